/**
 * Bad input gets a clear 4xx problem+json answer and never reaches S3, the ledger or Kafka.
 * Each case is checked against all three stores, before and after.
 */
import { startPipeline, Pipeline } from '../support/pipeline';

let p: Pipeline;
const db = 'badinput';

async function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${p.url}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: json };
}

async function snapshot() {
  // Let any in-flight delivery land before counting, so a change would be seen.
  await new Promise((r) => setTimeout(r, 300));
  return {
    s3: (await p.s3Keys('indexes/')).length + (await p.s3Keys('events/')).length,
    ledger: (await p.ledgerRows()).length,
    kafka: p.messages.length,
  };
}

beforeAll(async () => {
  p = await startPipeline('e2e-bad');
  const wait = { prefer: 'wait=30' };
  expect((await raw('POST', '/databases', JSON.stringify({ name: db }), wait)).status).toBe(201);
  const cls = { id: 'Doc', label: 'Doc', properties: [{ name: 'title', type: 'string', required: true }, { name: 'pages', type: 'integer' }], relationships: [] };
  expect((await raw('POST', `/databases/${db}/classes`, JSON.stringify(cls), wait)).status).toBe(201);
  await p.waitForMessages(2);
});
afterAll(async () => {
  await p?.close();
});

const wait = { prefer: 'wait=30' };
const cases: Array<[string, () => Promise<{ status: number; type: string; body: any }>, number, string]> = [
  ['malformed JSON', () => raw('POST', `/databases/${db}/classes/Doc/instances`, '{"properties": {"title": "x"', wait), 400, 'MALFORMED_JSON'],
  ['wrong content type', () => raw('POST', '/databases', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, ''],
  ['wrong property type', () => raw('POST', `/databases/${db}/classes/Doc/instances`, JSON.stringify({ properties: { title: 'x', pages: 'many' } }), wait), 422, 'VALIDATION_FAILED'],
  ['missing required property', () => raw('POST', `/databases/${db}/classes/Doc/instances`, JSON.stringify({ properties: { pages: 3 } }), wait), 422, 'VALIDATION_FAILED'],
  ['unknown property', () => raw('POST', `/databases/${db}/classes/Doc/instances`, JSON.stringify({ properties: { title: 'x', color: 'red' } }), wait), 422, 'VALIDATION_FAILED'],
  ['missing class', () => raw('POST', `/databases/${db}/classes/Nope/instances`, JSON.stringify({ properties: { title: 'x' } }), wait), 404, 'CLASS_NOT_FOUND'],
  ['unknown database', () => raw('POST', '/databases/nowhere/classes', JSON.stringify({ id: 'A', label: 'A', properties: [], relationships: [] }), wait), 404, 'DATABASE_NOT_FOUND'],
  ['schema violation in a class', () => raw('POST', `/databases/${db}/classes`, JSON.stringify({ id: 'B', label: 'B', properties: [{ name: 'x', type: 'float' }] }), wait), 422, 'VALIDATION_FAILED'],
  ['hostile instance id (..)', () => raw('POST', `/databases/${db}/classes/Doc/instances`, JSON.stringify({ id: '../../etc', properties: { title: 'x' } }), wait), 422, 'VALIDATION_FAILED'],
  ['hostile path segment (%2F)', () => raw('PUT', `/databases/${db}/classes/Doc/instances/a%2F..%2Fb`, JSON.stringify({ properties: { title: 'x' } }), wait), 400, 'INVALID_ID'],
  ['hostile database name', () => raw('POST', '/databases', JSON.stringify({ name: 'Robert"); DROP TABLE--' }), wait), 422, 'VALIDATION_FAILED'],
  ['body over the limit', () => raw('POST', `/databases/${db}/classes/Doc/instances`, JSON.stringify({ properties: { title: 'x'.repeat(30 * 1024 * 1024) } }), wait), 413, 'PAYLOAD_TOO_LARGE'],
];

test.each(cases)('%s: 4xx problem+json, nothing stored or published', async (_name, call, status, code) => {
  const before = await snapshot();
  const res = await call();
  expect(res.status).toBe(status);
  expect(res.type).toContain('application/problem+json');
  if (code) expect(res.body.code).toBe(code);
  expect(res.body.title).toEqual(expect.any(String));
  expect(await snapshot()).toEqual(before);
});

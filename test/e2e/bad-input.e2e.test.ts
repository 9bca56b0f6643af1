/**
 * Bad input gets a clear 4xx problem+json answer and never reaches S3, the ledger, Kafka or the
 * read models, and starts no command. Each case is checked against all of them, before and after.
 */
import { startPipeline, Pipeline, storedCounts } from '../support/pipeline';
import { BAD_TEXT, UNSTORABLE_FIELDS } from '../support/unstorable';

let p: Pipeline;
const db = 'badinput';

async function raw(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${p.url}${path}`, { method, headers: { 'content-type': 'application/json', ...p.auth, ...headers }, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: json };
}

const snapshot = () => storedCounts(p);

beforeAll(async () => {
  p = await startPipeline('e2e-bad');
  const wait = { prefer: 'wait=30' };
  expect((await raw('POST', '/databases', JSON.stringify({ name: db }), wait)).status).toBe(201);
  const cls = {
    id: 'Doc',
    label: 'Doc',
    properties: [
      { name: 'title', type: 'string', required: true },
      { name: 'pages', type: 'integer' },
    ],
    relationships: [],
  };
  expect((await raw('POST', `/databases/${db}/classes`, JSON.stringify(cls), wait)).status).toBe(201);
  const note = {
    id: 'Note',
    label: 'Note',
    properties: [
      { name: 'text', type: 'string' },
      { name: 'doc', type: 'json' },
      { name: 'tags', type: 'array', items: 'string' },
      { name: 'amount', type: 'decimal' },
    ],
    relationships: [{ predicate: 'about', target_class: 'Doc', cardinality: 'n:m' }],
  };
  expect((await raw('POST', `/databases/${db}/classes`, JSON.stringify(note), wait)).status).toBe(201);
  await p.waitForMessages(3);
});
afterAll(async () => {
  await p?.close();
});

const wait = { prefer: 'wait=30' };
/** Business refusals (unknown class, missing property...) are decided by a command, which then fails and stores nothing. */
const DECIDED_BY_A_COMMAND = new Set(['wrong property type', 'missing required property', 'unknown property', 'missing class', 'unknown database']);
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
  ['U+0000 in a database description', () => raw('POST', '/databases', '{"name":"nul","description":"a\\u0000b"}', wait), 422, 'UNSTORABLE_STRING'],
  ['a lone surrogate in a class label', () => raw('POST', `/databases/${db}/classes`, '{"id":"Sur","label":"x\\ud800"}', wait), 422, 'UNSTORABLE_STRING'],
  ['U+0000 in a property value', () => raw('POST', `/databases/${db}/classes/Note/instances`, '{"properties":{"text":"a\\u0000"}}', wait), 422, 'UNSTORABLE_STRING'],
  ['a lone surrogate deep in a json value', () => raw('POST', `/databases/${db}/classes/Note/instances`, '{"properties":{"doc":{"a":[{"b":"\\udfff"}]}}}', wait), 422, 'UNSTORABLE_STRING'],
  ['U+0000 in a json key', () => raw('POST', `/databases/${db}/classes/Note/instances`, '{"properties":{"doc":{"k\\u0000":1}}}', wait), 422, 'UNSTORABLE_STRING'],
  ['a noncharacter in an array item', () => raw('POST', `/databases/${db}/classes/Note/instances`, '{"properties":{"tags":["\\uffff"]}}', wait), 422, 'UNSTORABLE_STRING'],
  ['U+0000 in a relationship target', () => raw('POST', `/databases/${db}/classes/Note/instances`, '{"relationships":{"about":["a\\u0000"]}}', wait), 422, 'UNSTORABLE_STRING'],
  ['U+0000 in an update', () => raw('PUT', `/databases/${db}/classes/Doc/instances/d1`, '{"properties":{"title":"\\u0000"}}', wait), 422, 'UNSTORABLE_STRING'],
  [
    'U+0000 in a bulk instance',
    () => raw('POST', `/databases/${db}/classes/Note/instances:bulk`, '{"instances":[{"properties":{"text":"ok"}},{"properties":{"text":"\\u0000"}}]}', wait),
    422,
    'UNSTORABLE_STRING',
  ],
  ['a non-ASCII X-Actor', () => raw('POST', `/databases/${db}/classes/Note/instances`, '{"properties":{"text":"ok"}}', { ...wait, 'x-actor': 'J\u00fcrgen' }), 400, 'INVALID_HEADER'],
  ['a decimal beyond 2^53', () => raw('POST', `/databases/${db}/classes/Note/instances`, '{"properties":{"amount":9007199254740993}}', wait), 422, 'UNSAFE_NUMBER'],
  ['a json value beyond 2^53', () => raw('POST', `/databases/${db}/classes/Note/instances`, '{"properties":{"doc":{"id":12345678901234567890}}}', wait), 422, 'UNSAFE_NUMBER'],
  ['a body nested 5,000 deep', () => raw('POST', `/databases/${db}/classes/Note/instances`, `{"properties":{"doc":${'['.repeat(5000)}${']'.repeat(5000)}}}`, wait), 422, 'BODY_TOO_DEEP'],
  ['a body nested 100,000 deep', () => raw('POST', `/databases/${db}/classes/Note/instances`, `{"properties":{"doc":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}}`, wait), 422, 'BODY_TOO_DEEP'],
  ['body over the limit', () => raw('POST', `/databases/${db}/classes/Doc/instances`, JSON.stringify({ properties: { title: 'x'.repeat(30 * 1024 * 1024) } }), wait), 413, 'PAYLOAD_TOO_LARGE'],
];

test.each(cases)('%s: 4xx problem+json, nothing stored or published', async (name, call, status, code) => {
  const before = await snapshot();
  const res = await call();
  expect(res.status).toBe(status);
  expect(res.type).toContain('application/problem+json');
  if (code) expect(res.body.code).toBe(code);
  expect(res.body.title).toEqual(expect.any(String));
  expect(await snapshot()).toEqual({ ...before, commands: before.commands + (DECIDED_BY_A_COMMAND.has(name) ? 1 : 0) });
});

test('what is allowed is stored exactly: astral text, controls in property values, safe integers at the edge', async () => {
  const properties = { text: 'Ada 😀 \u0007\u001b[0m\t\n', doc: { 'k\u0001': [-9007199254740991, 0.1], s: '\ufeff\ufffd' }, tags: ['𝔸'], amount: 9007199254740991 };
  const res = await raw('POST', `/databases/${db}/classes/Note/instances`, JSON.stringify({ id: 'exact', properties }), wait);
  expect(res.status).toBe(201);
  const read = await raw('GET', `/databases/${db}/instances/exact`);
  expect(read.body.properties).toEqual(properties);
  const [event] = (await raw('GET', `/databases/${db}/instances/exact/history`)).body.items;
  expect(event.payload.instance.properties).toEqual(properties);
});

test('every string field of every write, with every kind of unstorable text: 422 UNSTORABLE_STRING naming it, nothing stored, no command', async () => {
  const before = await snapshot();
  const refused: string[] = [];
  for (const [field, method, path, template, errorPath] of UNSTORABLE_FIELDS(db, 'Note')) {
    for (const [, escape] of BAD_TEXT) {
      const res = await raw(method.toUpperCase(), path, template.replace('X', escape), wait);
      const named = errorPath.replace('X', JSON.parse(`"${escape}"`));
      expect({ field, status: res.status, type: res.type, code: res.body?.code, paths: res.body?.errors?.map((e: any) => e.path) }).toEqual({
        field,
        status: 422,
        type: expect.stringContaining('application/problem+json'),
        code: 'UNSTORABLE_STRING',
        paths: [named],
      });
      refused.push(field);
    }
  }
  expect(refused).toHaveLength(UNSTORABLE_FIELDS(db, 'Note').length * BAD_TEXT.length);
  expect(await snapshot()).toEqual(before);
});

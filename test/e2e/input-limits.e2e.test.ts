/**
 * The input limits through the real API as startApi serves it: a string property at the default
 * API_MAX_STRING_LENGTH goes the whole way (S3, ledger, Kafka, read models, search), one character
 * more is refused with nothing stored anywhere; a header the HTTP parser refuses is answered as
 * problem+json by the server startApi starts.
 */
import net from 'node:net';
import { loadConfig } from '../../src/app/config';
import { eventually } from '../support/env';
import { startPipeline, Pipeline, storedCounts } from '../support/pipeline';
import { sendJson, seedDatabase } from '../support/http';

let p: Pipeline;
const db = 'limits';
const wait = { prefer: 'wait=60' };
const LIMIT = loadConfig({}).inputLimits.maxStringLength;

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  sendJson(p.url, method, path, body, headers).then((a) => ({ ...a, type: a.headers.get('content-type') ?? '' }));

/** Exactly `length` characters of distinct words, each starting with `tag` so a search finds one text only. */
function distinctWords(tag: string, length: number): string {
  const words: string[] = [];
  let size = -1;
  for (let i = 0; size < length; i++) {
    const word = `${tag}${i.toString(36)}`;
    words.push(word);
    size += word.length + 1;
  }
  return words.join(' ').slice(0, length);
}

const snapshot = () => storedCounts(p);

/** Each event of a completed command has its delivered ledger row and its Kafka message. */
async function expectDelivered(events: Array<{ event_id: string }>) {
  expect(events.length).toBeGreaterThan(0);
  for (const { event_id } of events) {
    const rows = await p.ledgerRows('event_id = $1', [event_id]);
    expect(rows.map((r) => r.status)).toEqual(['delivered']);
  }
  await eventually(
    async () => events.filter((e) => p.messages.some((m) => m.headers['event-id'] === e.event_id)).length,
    (n) => n === events.length,
  );
}

// Search on OpenSearch is near real time: a write shows within the index's refresh interval (1 s).
/** Hit ids for q, once the index (near real time) holds the instance expected among them. */
const search = (q: string, expected: string) =>
  eventually(
    async () => ((await send('GET', `/databases/${db}/search?q=${encodeURIComponent(q)}`)).body.items as Array<{ id: string }>).map((i) => i.id),
    (ids) => ids.includes(expected),
    10_000,
    200,
  );

beforeAll(async () => {
  p = await startPipeline('e2e-limits');
  await seedDatabase(p.url, db, { id: 'Doc', label: 'Doc', properties: [{ name: 'text', type: 'string' }], relationships: [] });
  await p.waitForMessages(2);
}, 60_000);
afterAll(async () => {
  await p?.close();
});

test('the default limit is 1,000,000 characters', () => {
  expect(LIMIT).toBe(1_000_000);
});

test('a string property of exactly the limit, single create: COMPLETED, read back whole, searchable, in the ledger and on Kafka', async () => {
  const text = distinctWords('solo', LIMIT);
  expect(text.length).toBe(LIMIT);
  const res = await send('POST', `/databases/${db}/classes/Doc/instances`, { id: 'solo', properties: { text } }, wait);
  expect({ status: res.status, state: res.body.status }).toEqual({ status: 201, state: 'COMPLETED' });
  await expectDelivered(res.body.events);

  const read = await eventually(
    async () => send('GET', `/databases/${db}/instances/solo`),
    (r) => r.status === 200,
  );
  expect(read.body.properties.text.length).toBe(LIMIT);
  expect(read.body.properties.text === text).toBe(true);
  // The index holds a bounded prefix (SEARCH_INDEX_MAX_CHARS): a word from the start is found.
  expect(await search('solo1a', 'solo')).toEqual(['solo']);
}, 60_000);

test('strings of exactly the limit in a bulk: COMPLETED, each instance read back whole and searchable, in the ledger and on Kafka', async () => {
  const texts = { bulka: distinctWords('bulka', LIMIT), bulkb: distinctWords('bulkb', LIMIT) };
  const instances = Object.entries(texts).map(([id, text]) => ({ id, properties: { text } }));
  const res = await send('POST', `/databases/${db}/classes/Doc/instances:bulk`, { instances }, wait);
  expect({ status: res.status, state: res.body.status }).toEqual({ status: 201, state: 'COMPLETED' });
  await expectDelivered(res.body.events);

  for (const [id, text] of Object.entries(texts)) {
    const read = await eventually(
      async () => send('GET', `/databases/${db}/instances/${id}`),
      (r) => r.status === 200,
    );
    expect(read.body.properties.text.length).toBe(LIMIT);
    expect(read.body.properties.text === text).toBe(true);
    // Typo-tolerant search also offers the other instances one letter away; the exact one ranks first.
    const found = await search(`${id}2`, id);
    expect(found[0]).toBe(id);
  }
}, 60_000);

test('one character over the limit, single or in a bulk: 422 STRING_TOO_LONG naming the field, nothing in S3, the ledger, Kafka, the read models or Temporal', async () => {
  const before = await snapshot();
  const text = distinctWords('over', LIMIT + 1);

  const single = await send('POST', `/databases/${db}/classes/Doc/instances`, { id: 'over', properties: { text } }, wait);
  const bulk = await send(
    'POST',
    `/databases/${db}/classes/Doc/instances:bulk`,
    {
      instances: [
        { id: 'fine', properties: { text: 'short' } },
        { id: 'over2', properties: { text } },
      ],
    },
    wait,
  );
  for (const [res, path] of [
    [single, 'properties.text'],
    [bulk, 'instances[1].properties.text'],
  ] as const) {
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 422, code: 'STRING_TOO_LONG' });
    expect(res.type).toMatch(/^application\/problem\+json/);
    expect(res.body.errors).toEqual([{ code: 'STRING_TOO_LONG', path, message: `is ${LIMIT + 1} characters long; the limit is ${LIMIT}` }]);
  }

  expect(await snapshot()).toEqual(before);
  for (const id of ['over', 'fine', 'over2']) expect((await send('GET', `/databases/${db}/instances/${id}`)).status).toBe(404);
}, 60_000);

test('a control byte in a header, refused by the HTTP parser of the server startApi starts, is answered 400 problem+json', async () => {
  const before = await snapshot();
  const { hostname, port } = new URL(p.api.url);
  const rawRequest = (headerLine: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), hostname, () => {
        socket.write(`POST /api/v1/databases HTTP/1.1\r\nHost: x\r\n${headerLine}Content-Type: application/json\r\nContent-Length: 15\r\n\r\n{"name":"nope"}`);
      });
      let text = '';
      socket.on('data', (c) => (text += c));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
  for (const header of ['X-Actor: ad\u0000a\r\n', 'Idempotency-Key: k\u0001\r\n']) {
    const [head, body] = (await rawRequest(header)).split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(head).toMatch(/content-type: application\/problem\+json/i);
    expect(JSON.parse(body)).toMatchObject({ status: 400, code: 'MALFORMED_REQUEST' });
  }
  const huge = await rawRequest(`X-Actor: ${'a'.repeat(20_000)}\r\n`);
  expect(huge).toMatch(/^HTTP\/1\.1 431 /);
  expect(JSON.parse(huge.split('\r\n\r\n')[1]).code).toBe('HEADERS_TOO_LARGE');
  expect(await snapshot()).toEqual(before);
});

/**
 * Access control on the real stack: the actor stored in S3 and carried by Kafka is the key's,
 * whatever X-Actor claims; a key revoked through another API process stops within
 * API_KEY_CACHE_MS; the request rate answers 429; a key limited to one database cannot read the
 * status of another's command.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { startApi, type RunningApi } from '../../src/app/api-server';
import { eventually, testConfig, uniqueName } from '../support/env';
import { bearer, sendJson } from '../support/http';
import { startPipeline, type Pipeline } from '../support/pipeline';

const CACHE_MS = 1000;
const RATE = 40;
const config = { ...testConfig, API_KEY_CACHE_MS: CACHE_MS, API_RATE_LIMIT: RATE, API_RATE_WINDOW_S: 60 };
let p: Pipeline;
const db = 'access';

beforeAll(async () => {
  p = await startPipeline('e2e-access', config);
  await sendJson(p.url, 'POST', '/databases', { name: db }, { prefer: 'wait=30' });
  const cls = { id: 'Note', label: 'Note', properties: [{ name: 'text', type: 'string' }], relationships: [] };
  expect((await sendJson(p.url, 'POST', `/databases/${db}/classes`, cls, { prefer: 'wait=30' })).status).toBe(201);
});
afterAll(() => p?.close());

const createKey = async (name: string, role: string, databases?: string[]) => {
  const res = await sendJson(p.url, 'POST', '/admin/keys', { name: `${name}-${Date.now().toString(36)}`, role, ...(databases ? { databases } : {}) }, bearer(p.keys.admin));
  expect(res.status).toBe(201);
  return res.body as { key: string; key_id: string; name: string };
};

test('a forged X-Actor changes nothing: S3 and Kafka carry the key as the actor', async () => {
  const alice = await createKey('alice', 'writer', [db]);
  const res = await sendJson(p.url, 'POST', `/databases/${db}/classes/Note/instances`, { id: 'n1', properties: { text: 'hi' } }, { ...bearer(alice.key), 'x-actor': 'mallory', prefer: 'wait=30' });
  expect(res.status).toBe(201);
  const [event] = res.body.result.events as Array<{ event_id: string; aggregate_id: string; s3: { bucket: string; key: string } }>;

  const stored = await p.api.infra.s3.send(new GetObjectCommand({ Bucket: event.s3.bucket, Key: event.s3.key }));
  const envelope = JSON.parse(await stored.Body!.transformToString());
  expect(envelope).toMatchObject({ event_id: event.event_id, actor: `key:${alice.name}` });

  await eventually(
    async () => p.messages.filter((m) => m.headers['event-id'] === event.event_id).length,
    (n) => n === 1,
  );
  const message = p.messages.find((m) => m.headers['event-id'] === event.event_id)!;
  expect(message.value.payload.actor).toBe(`key:${alice.name}`);
  expect(JSON.stringify(message.value)).not.toContain('mallory');
  expect(JSON.stringify(envelope)).not.toContain('mallory');
});

test('a key revoked through another API process stops within API_KEY_CACHE_MS', async () => {
  const bob = await createKey('bob', 'reader');
  // A second API process over the same key table, as a second replica would be.
  const other: RunningApi = await startApi(config, { schema: p.api.infra.schema, readModelSchema: p.api.infra.readModelSchema, s3Prefix: p.prefix, topic: p.api.infra.topic, port: 0 });
  try {
    const otherUrl = `${other.url}/api/v1`;
    const read = () => sendJson(otherUrl, 'GET', `/databases/${db}`, undefined, bearer(bob.key));
    expect((await read()).status).toBe(200);
    const revoked = await sendJson(p.url, 'DELETE', `/admin/keys/${bob.key_id}`, undefined, bearer(p.keys.admin));
    expect(revoked.status).toBe(200);
    const at = Date.now();
    // The revoking process refuses it at once.
    expect((await sendJson(p.url, 'GET', `/databases/${db}`, undefined, bearer(bob.key))).status).toBe(401);
    await eventually(
      async () => (await read()).status,
      (s) => s === 401,
      CACHE_MS + 2000,
      50,
    );
    const took = Date.now() - at;
    process.stdout.write(`revoked key refused by the other API process after ${took} ms (API_KEY_CACHE_MS=${CACHE_MS})\n`);
    expect(took).toBeLessThanOrEqual(CACHE_MS + 500);
  } finally {
    await other.close();
  }
});

test(`the request rate answers 429 problem+json with Retry-After after ${RATE} requests`, async () => {
  const carol = await createKey('carol', 'reader');
  const statuses: number[] = [];
  for (let i = 0; i <= RATE; i++) statuses.push((await sendJson(p.url, 'GET', `/databases/${db}`, undefined, bearer(carol.key))).status);
  expect(statuses.slice(0, RATE).every((s) => s === 200)).toBe(true);
  const limited = await sendJson(p.url, 'GET', `/databases/${db}`, undefined, bearer(carol.key));
  expect([limited.status, limited.body.code]).toEqual([429, 'RATE_LIMITED']);
  expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  // Another key is not held back by it.
  expect((await sendJson(p.url, 'GET', `/databases/${db}`)).status).toBe(200);
});

test("a key limited to another database cannot read this database's command, nor write to it", async () => {
  const writer = await sendJson(p.url, 'DELETE', `/databases/${db}/classes/Note/instances/n1`, undefined, { prefer: 'wait=30' });
  expect(writer.status).toBe(200);
  const dave = await createKey('dave', 'writer', [uniqueName('elsewhere').replace(/-/g, '')]);
  const status = await sendJson(p.url, 'GET', `/commands/${writer.body.command_id}`, undefined, bearer(dave.key));
  expect([status.status, status.body.code]).toEqual([403, 'FORBIDDEN']);
  const before = (await p.ledgerRows()).length;
  const write = await sendJson(p.url, 'POST', `/databases/${db}/classes/Note/instances`, { id: 'n2', properties: {} }, bearer(dave.key));
  expect([write.status, write.body.code]).toEqual([403, 'FORBIDDEN']);
  expect((await p.ledgerRows()).length).toBe(before);
});

/**
 * A streamed bulk body sent again under its Idempotency-Key (found by the write-API property test,
 * seed 1556413579): the same request answers with the first command, another one is refused with
 * IDEMPOTENCY_KEY_REUSED, and neither leaves a second copy of the body in S3 (the API may not delete
 * what it stored, so it must not complete the upload of a body no run will read).
 */
import { startPipeline, Pipeline } from '../support/pipeline';
import { testConfig, uniqueName } from '../support/env';
import { commandFinished, sendJson, seedDatabase } from '../support/http';

let p: Pipeline;
const db = 'bulkresub';
const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, path, body, headers);

beforeAll(async () => {
  p = await startPipeline('e2e-bulk-resub', testConfig);
  await seedDatabase(p.url, db, { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] });
});
afterAll(async () => {
  await p?.close();
});

test('a bulk sent again under its key: same request joins the first command, another is refused, no second body in S3', async () => {
  const key = { 'idempotency-key': uniqueName('bulk-key') };
  const first = await send('POST', `/databases/${db}/classes/Item/instances:bulk`, { instances: [{ id: 'a1', properties: { n: 1 } }] }, key);
  expect(first.status).toBe(202);
  const commandId = first.body.command_id as string;
  expect((await commandFinished(p.url, commandId)).status).toBe('COMPLETED');
  const bodies = async () => (await p.s3Keys(`commands/${commandId}/`)).filter((k) => /\/body-[0-9a-f]+\.json$/.test(k));
  const stored = await bodies();
  expect(stored).toHaveLength(1);

  const same = await send('POST', `/databases/${db}/classes/Item/instances:bulk`, { instances: [{ id: 'a1', properties: { n: 1 } }] }, key);
  expect([same.status, same.body.command_id]).toEqual([200, commandId]);
  const other = await send('POST', `/databases/${db}/classes/Item/instances:bulk`, { instances: [{ id: 'a2', properties: { n: 2 } }] }, key);
  expect([other.status, other.body.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
  expect(await bodies()).toEqual(stored);
  // Nothing else changed: no instance a2, and a1 once.
  expect((await send('GET', `/databases/${db}/classes/Item/instances/a2`)).status).toBe(404);
  expect((await p.ledgerRows(`aggregate_id LIKE $1`, [`${db}:a%`])).map((r) => r.aggregate_id)).toEqual([`${db}:a1`]);
});

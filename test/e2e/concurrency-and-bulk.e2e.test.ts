/**
 * Concurrency and size through the real pipeline: no lost update under 100 concurrent writers of
 * one instance, and bulk commands far above Temporal's payload limit.
 */
import { startPipeline, storedCounts, Pipeline } from '../support/pipeline';
import { getText } from '../../src/adapters/s3/s3-client';
import { requestHashOf } from '../../src/contracts/request-hash';
import { MAX_BULK_INSTANCES } from '../../src/domain/commands';
import { isSealed } from '../../src/domain';
import { commandIdForKey } from '../../src/app/command-gateway';
import { WorkflowNotFoundError } from '@temporalio/client';
import { eventually, scaled, testConfig } from '../support/env';
import { commandFinished, sendJson, seedDatabase } from '../support/http';

let p: Pipeline;
const db = 'bulkdb';

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, path, body, headers);

/** Instances per bulk batch: half the default, so the suite's smaller bulks still span several batches. */
const BATCH = 500;
const BULK = scaled(2_000, 10_000);

beforeAll(async () => {
  p = await startPipeline('e2e-bulk', testConfig, { wrapDeps: (deps) => ({ ...deps, bulkBatchSize: BATCH }) });
  await seedDatabase(p.url, db, {
    id: 'Item',
    label: 'Item',
    properties: [
      { name: 'n', type: 'integer', required: true },
      { name: 'note', type: 'string' },
    ],
    relationships: [],
  });
});
afterAll(async () => {
  await p?.close();
});

test('100 concurrent updates of one instance end at version 101 with no lost update', async () => {
  expect((await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'hot', properties: { n: 0 } }, { prefer: 'wait=30' })).status).toBe(201);
  const accepted = await Promise.all(Array.from({ length: 100 }, (_, i) => send('PUT', `/databases/${db}/classes/Item/instances/hot`, { properties: { n: i + 1, note: `writer ${i}` } })));
  expect(accepted.map((r) => r.status)).toEqual(Array(100).fill(202));
  const results = await Promise.all(accepted.map((a) => commandFinished(p.url, a.body.command_id)));
  expect(results.map((r) => r.status)).toEqual(Array(100).fill('COMPLETED'));
  const versions = results.map((r) => r.result.version).sort((a, b) => a - b);
  expect(versions).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));

  // S3: versions 1..101, no gap, no duplicate.
  const keys = await p.s3Keys(`indexes/by-aggregate/instance/`);
  const hot = keys.filter((k) => k.includes('hot'));
  expect(hot).toHaveLength(101);
  // Ledger: one row per version, all delivered.
  const rows = await p.ledgerRows('aggregate_id = $1', [`${db}:hot`]);
  expect(rows.map((r) => r.aggregate_version)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
  expect(new Set(rows.map((r) => r.status))).toEqual(new Set(['delivered']));
  // Kafka: in version order (first occurrence of each event id).
  await eventually(
    async () => new Set(p.messagesFor(`${db}:hot`).map((m) => m.headers['event-id'])).size,
    (n) => n === 101,
    60_000,
  );
  const order = p.versionsDelivered(`${db}:hot`);
  expect(order).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
  // Read model: the last writer's state at version 101.
  const read = await send('GET', `/databases/${db}/instances/hot`);
  expect(read.body.version).toBe(101);
  const lastWriter = results.findIndex((r) => r.result.version === 101);
  expect(read.body.properties).toEqual({ n: lastWriter + 1, note: `writer ${lastWriter}` });
}, 240_000);

test(`BULK_CREATE_INSTANCES of ${BULK} instances completes in batches with progress, every instance projected`, async () => {
  const instances = Array.from({ length: BULK }, (_, i) => ({ id: `item-${i}`, properties: { n: i } }));
  const accepted = await send('POST', `/databases/${db}/classes/Item/instances:bulk`, { instances });
  expect(accepted.status).toBe(202);
  const id = accepted.body.command_id;

  const progress = new Set<number>();
  const final = await eventually(
    async () => {
      const s = await send('GET', `/commands/${id}`);
      if (s.body.progress?.batches_done !== undefined) progress.add(s.body.progress.batches_done);
      return s.body;
    },
    (s) => s.status === 'COMPLETED' || s.status === 'FAILED',
    180_000,
    200,
  );
  expect(final.status).toBe('COMPLETED');
  expect(final.result.event_count).toBe(BULK / BATCH);
  expect(progress.size).toBeGreaterThan(0);

  const rows = await p.ledgerRows(`event_type = 'INSTANCES_BULK_CREATED'`);
  expect(rows).toHaveLength(BULK / BATCH);
  expect(new Set(rows.map((r) => r.status))).toEqual(new Set(['delivered']));
  const page = await send('GET', `/databases/${db}/classes/Item/instances?limit=1&filter[n]=${BULK - 1}`);
  expect(page.body.items.map((i: any) => i.id)).toEqual([`item-${BULK - 1}`]);
  const count = await p.api.infra.pool.query(
    `SELECT count(*)::int AS n FROM ${p.api.infra.readModelSchema}.instances WHERE db_name = $1 AND class_id = 'Item' AND instance_id LIKE 'item-%' AND NOT deleted`,
    [db],
  );
  expect(count.rows[0].n).toBe(BULK);

  // A bulk-created instance can be updated: its creation is version 1 of its own stream (the claim).
  expect((await send('GET', `/databases/${db}/instances/item-7`)).body.version).toBe(1);
  const upd = await send('PUT', `/databases/${db}/classes/Item/instances/item-7`, { properties: { note: 'changed' } }, { prefer: 'wait=30', 'if-match': '1' });
  expect(upd.status).toBe(200);
  expect(upd.body.result.version).toBe(2);
}, 240_000);

test('a 20 MB bulk command travels by reference, never as a Temporal payload', async () => {
  // Size from wide instances rather than many: each instance costs a claim, and the size is the point here.
  const filler = 'x'.repeat(10_300);
  const instances = Array.from({ length: 2_000 }, (_, i) => ({ id: `big-${i}`, properties: { n: i, note: filler } }));
  const body = JSON.stringify({ instances });
  expect(Buffer.byteLength(body)).toBeGreaterThan(20_000_000);
  const res = await fetch(`${p.url}/databases/${db}/classes/Item/instances:bulk`, { method: 'POST', headers: { 'content-type': 'application/json', ...p.auth }, body });
  expect(res.status).toBe(202);
  const { command_id } = (await res.json()) as { command_id: string };
  const final = await commandFinished(p.url, command_id, 240_000);
  expect(final.status).toBe('COMPLETED');
  expect(final.result.event_count).toBe(2_000 / BATCH);
  // The workflow's history holds the reference, not the body.
  const history = await p.client.workflow.getHandle(`command-${command_id}`).fetchHistory();
  const size = Buffer.byteLength(JSON.stringify(history));
  expect(size).toBeLessThan(2_000_000);
  // Streamed to S3 as it was read, each item sealed on its own (its key is gone now the command has
  // ended); the request hash in the run's memo is that of the plain command as JSON.stringify writes it.
  const [key] = (await p.s3Keys(`commands/${command_id}/`)).filter((k) => /body-.*\.json$/.test(k));
  const stored = JSON.parse((await getText(p.api.infra.s3, testConfig.S3_BUCKET, `${p.prefix}${key}`))!) as { payload: { class_id: string; instances: unknown[] } };
  expect(stored).toMatchObject({ command_type: 'BULK_CREATE_INSTANCES', db_name: db, batch_id: command_id, payload: { class_id: 'Item' } });
  expect(stored.payload.instances).toHaveLength(2_000);
  expect(stored.payload.instances.every(isSealed)).toBe(true);
  expect(JSON.stringify(stored)).not.toContain('big-1');
  const command = { command_type: 'BULK_CREATE_INSTANCES', db_name: db, batch_id: command_id, payload: { class_id: 'Item', instances: instances.map((i) => ({ ...i, relationships: {} })) } };
  const memo = (await p.client.workflow.getHandle(`command-${command_id}`).describe()).memo as { request_hash: string };
  expect(memo.request_hash).toBe(requestHashOf(JSON.stringify(command), undefined));
}, 300_000);

test('a bulk of 100,000 whose 90,001st item is bad is refused with its path, and nothing of it is stored or started', async () => {
  const instances: Array<{ id: string; properties: { n: number } }> = Array.from({ length: MAX_BULK_INSTANCES }, (_, i) => ({ id: `late-${i}`, properties: { n: i } }));
  instances[90_000].id = 'Not An Id';
  const before = await storedCounts(p);
  const key = `late-bad-item-${Date.now()}`;
  // Far over one 5 MiB part: the first parts are uploaded before the bad item is read.
  const body = JSON.stringify({ instances: instances.map((i) => ({ ...i, properties: { ...i.properties, note: 'n'.repeat(100) } })) });
  expect(Buffer.byteLength(body)).toBeGreaterThan(12_000_000);
  const res = await fetch(`${p.url}/databases/${db}/classes/Item/instances:bulk`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key, ...p.auth }, body });
  const problem = (await res.json()) as { code: string; errors: Array<{ path: string }> };
  expect([res.status, res.headers.get('content-type'), problem.code, problem.errors.map((e) => e.path)]).toEqual([
    422,
    'application/problem+json; charset=utf-8',
    'VALIDATION_FAILED',
    ['instances[90000].id'],
  ]);
  expect(await storedCounts(p)).toEqual(before);
  // The key's command has no run, no body object (an aborted upload leaves nothing readable) and no instance.
  await expect(p.client.workflow.getHandle(`command-${commandIdForKey(key)}`).describe()).rejects.toThrow(WorkflowNotFoundError);
  expect(await p.s3Keys(`commands/${commandIdForKey(key)}/`)).toEqual([]);
  expect((await send('GET', `/databases/${db}/instances/late-0`)).status).toBe(404);
}, 300_000);

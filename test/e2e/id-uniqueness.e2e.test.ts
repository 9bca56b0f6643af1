/**
 * One id, one creation: the event store decides who creates an instance id (a claim on the
 * instance's own stream, taken by single and bulk creates alike), across two worker processes
 * (the test's own and a child process) that share nothing in memory. Each id is created exactly
 * once in S3, the ledger, Kafka and the read models, and a rebuild from S3 equals the live read
 * models.
 */
import type { EventEnvelope } from '../../src/contracts/event-envelope';
import { startPipeline, Pipeline } from '../support/pipeline';
import { startWorkerProcess, WorkerProcess } from '../support/worker-process';
import { eventually } from '../support/env';
import { commandFinished, sendJson, seedDatabase } from '../support/http';

let p: Pipeline;
let second: WorkerProcess | undefined;
const db = 'unique';

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, path, body, headers);
const finished = (commandId: string) => commandFinished(p.url, commandId, 180_000);

beforeAll(async () => {
  p = await startPipeline('e2e-unique');
  const first = p.api.infra;
  // The second worker is another OS process over the same schemas, prefix, topic and task queue.
  second = await startWorkerProcess({ schema: first.schema, readModelSchema: first.readModelSchema, s3Prefix: p.prefix, topic: first.topic, taskQueue: p.taskQueue, identity: 'second-worker' });
  await seedDatabase(p.url, db, { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] });
}, 180_000);
afterAll(async () => {
  await second?.stop();
  await p?.close();
});

/** Every creation of each id: single INSTANCE_CREATED events and instances inside bulk batch events. */
function creations(events: EventEnvelope[]): Map<string, number> {
  const count = new Map<string, number>();
  const add = (id: string) => count.set(id, (count.get(id) ?? 0) + 1);
  for (const e of events) {
    if (e.event_type === 'INSTANCE_CREATED') add((e.payload as { instance: { id: string } }).instance.id);
    if (e.event_type === 'INSTANCES_BULK_CREATED') for (const i of (e.payload as { instances: { id: string }[] }).instances) add(i.id);
  }
  return count;
}

async function creationsEverywhere(): Promise<{ s3: Map<string, number>; ledger: Map<string, number>; kafka: Map<string, number> }> {
  const store = p.api.infra.s3Store;
  const all: EventEnvelope[] = [];
  for (let from: string | undefined; ;) {
    const page = await store.readAll({ from, limit: 1000 });
    all.push(...page.events.map((e) => e.envelope));
    if (!page.hasMore) break;
    from = page.checkpoint;
  }
  const rows = await p.ledgerRows(`event_type IN ('INSTANCE_CREATED', 'INSTANCES_BULK_CREATED')`);
  const ledger = await Promise.all(rows.map((r) => store.readEvent(r.s3_reference).then((e) => e.envelope)));
  const seen = new Set<string>();
  const messages = p.messages.filter((m) => ['INSTANCE_CREATED', 'INSTANCES_BULK_CREATED'].includes(m.headers['event-type']) && !seen.has(m.headers['event-id']) && seen.add(m.headers['event-id']));
  const kafka = await Promise.all(messages.map((m) => store.readEvent(m.value.s3_reference).then((e) => e.envelope)));
  return { s3: creations(all), ledger: creations(ledger), kafka: creations(kafka) };
}

async function expectOnceEach(ids: string[]): Promise<void> {
  // Wait until Kafka has every delivered event, then compare the three stores id by id.
  await eventually(
    async () => (await p.ledgerRows(`status <> 'delivered'`)).length,
    (n) => n === 0,
    60_000,
  );
  const sent = (await p.ledgerRows(`event_type <> 'INSTANCE_CLAIM'`)).length;
  await eventually(
    async () => new Set(p.messages.map((m) => m.headers['event-id'])).size,
    (n) => n >= sent,
    60_000,
  );
  const { s3, ledger, kafka } = await creationsEverywhere();
  for (const id of ids) {
    expect([id, s3.get(id)]).toEqual([id, 1]);
    expect([id, ledger.get(id)]).toEqual([id, 1]);
    expect([id, kafka.get(id)]).toEqual([id, 1]);
  }
}

async function expectRebuildEqualsLive(): Promise<void> {
  const target = `${p.api.infra.readModelSchema}_rebuild`;
  const outcome = await p.client.workflow.execute('rebuildReadModels', { taskQueue: p.taskQueue, workflowId: `rebuild-${target}-${Date.now()}`, args: [{ target_schema: target }] });
  expect(outcome).toMatchObject({ equal: true, differences: [] });
  await p.api.infra.ownerPool.query(`DROP SCHEMA ${target} CASCADE`);
}

test('two concurrent bulks sharing 200 ids: one completes, the other fails with INSTANCE_EXISTS and creates nothing', async () => {
  const shared = Array.from({ length: 200 }, (_, i) => ({ id: `s${i}`, properties: { n: i } }));
  const only = (tag: string) => Array.from({ length: 100 }, (_, i) => ({ id: `${tag}${i}`, properties: { n: i } }));
  const [one, two] = await Promise.all([
    send('POST', `/databases/${db}/classes/Item/instances:bulk`, { instances: [...only('a'), ...shared] }),
    send('POST', `/databases/${db}/classes/Item/instances:bulk`, { instances: [...shared.slice().reverse(), ...only('b')] }),
  ]);
  const results = await Promise.all([finished(one.body.command_id), finished(two.body.command_id)]);
  expect(results.map((r) => r.status).sort()).toEqual(['COMPLETED', 'FAILED']);
  const failed = results.find((r) => r.status === 'FAILED')!;
  expect(failed.error.code).toBe('INSTANCE_EXISTS');
  const [winner, loser] = results[0].status === 'COMPLETED' ? ['a', 'b'] : ['b', 'a'];

  await expectOnceEach([...shared.map((s) => s.id), ...only(winner).map((s) => s.id)]);
  const { s3 } = await creationsEverywhere();
  for (const i of only(loser)) expect([i.id, s3.get(i.id)]).toEqual([i.id, undefined]);
  expect((await send('GET', `/databases/${db}/instances/${loser}0`)).status).toBe(404);
  // A shared id's stream may start with the loser's voided claim: its creation is then version 2.
  expect((await send('GET', `/databases/${db}/instances/s7`)).body).toMatchObject({ properties: { n: 7 } });
  // A loser's instance id is free: a single create takes it after the voided claim.
  const after = await send('POST', `/databases/${db}/classes/Item/instances`, { id: `${loser}0`, properties: { n: 0 } }, { prefer: 'wait=30' });
  expect(after.status).toBe(201);
  await expectRebuildEqualsLive();
}, 400_000);

test('a bulk racing 100 single creates of its ids: every id is created exactly once', async () => {
  const ids = Array.from({ length: 100 }, (_, i) => `r${i}`);
  const bulk = send('POST', `/databases/${db}/classes/Item/instances:bulk`, { instances: ids.map((id, n) => ({ id, properties: { n } })) });
  const singles = await Promise.all(ids.map((id) => send('POST', `/databases/${db}/classes/Item/instances`, { id, properties: { n: -1 } })));
  const bulkDone = await finished((await bulk).body.command_id);
  const singlesDone = await Promise.all(singles.map((s) => finished(s.body.command_id)));
  for (const s of singlesDone) if (s.status === 'FAILED') expect(s.error.code).toBe('INSTANCE_EXISTS');
  if (bulkDone.status === 'FAILED') expect(bulkDone.error.code).toBe('INSTANCE_EXISTS');
  const completedSingles = singlesDone.filter((s) => s.status === 'COMPLETED').length;
  expect(completedSingles + (bulkDone.status === 'COMPLETED' ? 100 : 0)).toBe(100);

  // Both processes took part in the race.
  expect(await workerIdentities([bulkDone, ...singlesDone].map((d) => d.command_id))).toContain('second-worker');
  await expectOnceEach(ids);
  await expectRebuildEqualsLive();
}, 400_000);

/** The identities of the workers that started workflow tasks of these commands. */
async function workerIdentities(commandIds: string[]): Promise<Set<string>> {
  const identities = new Set<string>();
  for (const id of commandIds) {
    const history = await p.client.workflow.getHandle(`command-${id}`).fetchHistory();
    for (const e of history.events ?? []) {
      const identity = e.workflowTaskStartedEventAttributes?.identity ?? e.activityTaskStartedEventAttributes?.identity;
      if (identity) identities.add(identity);
    }
  }
  return identities;
}

test('an instance deleted and then re-created by a bulk can be read, updated, deleted and created again', async () => {
  expect((await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'phoenix', properties: { n: 1 } }, { prefer: 'wait=30' })).status).toBe(201);
  expect((await send('DELETE', `/databases/${db}/classes/Item/instances/phoenix`, undefined, { prefer: 'wait=30' })).status).toBe(200);
  const bulk = await send(
    'POST',
    `/databases/${db}/classes/Item/instances:bulk`,
    {
      instances: [
        { id: 'phoenix', properties: { n: 2 } },
        { id: 'ash', properties: { n: 3 } },
      ],
    },
    { prefer: 'wait=30' },
  );
  expect(bulk.body.status).toBe('COMPLETED');

  const read = await send('GET', `/databases/${db}/instances/phoenix`);
  expect(read.status).toBe(200);
  expect(read.body).toMatchObject({ version: 3, properties: { n: 2 } });
  expect((await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'phoenix', properties: { n: 9 } }, { prefer: 'wait=30' })).body.code).toBe('INSTANCE_EXISTS');
  const put = await send('PUT', `/databases/${db}/classes/Item/instances/phoenix`, { properties: { n: 4 } }, { prefer: 'wait=30', 'if-match': '3' });
  expect(put.status).toBe(200);
  expect(put.body.result.version).toBe(4);
  expect((await send('DELETE', `/databases/${db}/classes/Item/instances/phoenix`, undefined, { prefer: 'wait=30' })).status).toBe(200);
  const again = await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'phoenix', properties: { n: 5 } }, { prefer: 'wait=30' });
  expect(again.status).toBe(201);
  expect(again.body.result.version).toBe(6);

  // S3: one stream, versions 1..6, the bulk's creation at 3 as a claim (no event body of its own).
  const stream = await p.api.infra.s3Store.readStream({ aggregate_type: 'instance', aggregate_id: `${db}:phoenix` });
  expect(stream.map((e) => [e.envelope.aggregate_version, e.envelope.event_type])).toEqual([
    [1, 'INSTANCE_CREATED'],
    [2, 'INSTANCE_DELETED'],
    [3, 'INSTANCE_CREATED'],
    [4, 'INSTANCE_UPDATED'],
    [5, 'INSTANCE_DELETED'],
    [6, 'INSTANCE_CREATED'],
  ]);
  expect(stream[2].envelope.metadata.claimed_by).toBe(bulk.body.command_id);
  // Ledger: version 3 is the claim's row, delivered from the start and never sent; the creation travels in the batch.
  const rows = await eventually(
    () => p.ledgerRows('aggregate_id = $1', [`${db}:phoenix`]),
    (r) => r.length === 6 && r.every((x) => x.status === 'delivered'),
    30_000,
  );
  expect(rows.map((r) => [r.aggregate_version, r.event_type]).sort((x, y) => x[0] - y[0])).toEqual([
    [1, 'INSTANCE_CREATED'],
    [2, 'INSTANCE_DELETED'],
    [3, 'INSTANCE_CLAIM'],
    [4, 'INSTANCE_UPDATED'],
    [5, 'INSTANCE_DELETED'],
    [6, 'INSTANCE_CREATED'],
  ]);
  await eventually(
    async () => p.messagesFor(`${db}:phoenix`).length,
    (n) => n >= 5,
    30_000,
  );
  expect([...new Set(p.messagesFor(`${db}:phoenix`).map((m) => m.headers['aggregate-version']))].sort()).toEqual(['1', '2', '4', '5', '6']);
  expect((await send('GET', `/databases/${db}/instances/phoenix`)).body).toMatchObject({ version: 6, properties: { n: 5 } });
  await expectOnceEach(['ash']);
}, 200_000);

/**
 * Errors meant to stop retries end the command as FAILED with their code; errors a retry may
 * outlive keep it RETRYING with a code that says why. Temporal honours only ApplicationFailure
 * types and flags, never a `retryable` field of our own error classes, so each case runs the real
 * workflow on the real stack and is read back through GET /commands/{id}.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { NativeConnection } from '@temporalio/worker';
import { createCommandWorker } from '../../src/app/command-worker';
import { ProcessCommandInput, workflowIdOf } from '../../src/contracts/workflows';
import { startPipeline, Pipeline, workflowBundle } from '../support/pipeline';
import { eventually, testConfig } from '../support/env';
import { sendJson, seedDatabase } from '../support/http';

let p: Pipeline;
const db = 'finals';

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, path, body, headers);

const statusOf = async (commandId: string) => (await send('GET', `/commands/${commandId}`)).body;

/** Starts processCommand directly, as a command stored before today's input checks would have been. */
async function startDirect(command: ProcessCommandInput['command'], taskQueue = p.taskQueue): Promise<string> {
  const commandId = randomUUID();
  const input: ProcessCommandInput = {
    command_id: commandId,
    command_type: command!.command_type,
    command,
    actor: 'test',
    submitted_at: new Date().toISOString(),
    storage_mode: 's3_only',
  };
  await p.client.workflow.start('processCommand', { taskQueue, workflowId: workflowIdOf(commandId), args: [input] });
  return commandId;
}

beforeAll(async () => {
  p = await startPipeline('e2e-finals');
  await seedDatabase(p.url, db, { id: 'K', label: 'K', properties: [{ name: 'v', type: 'string' }], relationships: [] });
});
afterAll(async () => {
  await p?.close();
});

test('LEDGER_STREAM_CONFLICT (another event recorded at the version): FAILED with its code, not retried', async () => {
  // A row squatting on version 1 of the instance's stream: S3 and the ledger now disagree.
  const infra = p.api.infra;
  await infra.pool.query(
    `INSERT INTO ${infra.ledger.table} (event_id, command_id, aggregate_type, aggregate_id, aggregate_version, event_type, topic, key, payload, storage_mode)
     VALUES ($1, 'squatter', 'instance', $2, 1, 'INSTANCE_CREATED', $3, $2, '{}', 's3_only')`,
    [`squatter-${randomUUID()}`, `${db}:sq`, infra.topic],
  );
  const res = await send('POST', `/databases/${db}/classes/K/instances`, { id: 'sq', properties: { v: 'x' } }, { prefer: 'wait=30' });
  expect(res.body.code).toBe('LEDGER_STREAM_CONFLICT');
  const view = await statusOf(res.body.command_id);
  expect(view.status).toBe('FAILED');
  expect(view.error).toMatchObject({ code: 'LEDGER_STREAM_CONFLICT' });
  expect(view.error.message).not.toMatch(/duplicate key|constraint|INSERT|127\.0\.0\.1/);
  // The squatter stays the only row of that stream version; the command's own event is in S3 only.
  const rows = await p.ledgerRows('aggregate_id = $1', [`${db}:sq`]);
  expect(rows.map((r) => r.command_id)).toEqual(['squatter']);
  expect(await p.s3Keys(`indexes/by-aggregate/instance/`)).toEqual(expect.arrayContaining([expect.stringContaining('sq')]));
});

test('EVENT_NOT_RECORDABLE (content PostgreSQL refuses): RETRYING with that code while other streams complete', async () => {
  const poisoned = await startDirect({ command_type: 'CREATE_INSTANCE', db_name: db, payload: { id: 'nul', class_id: 'K', properties: { v: 'a\u0000b' }, relationships: {} } } as never);
  const view = await eventually(
    () => statusOf(poisoned),
    (v) => v.status === 'RETRYING' && v.retry?.code === 'EVENT_NOT_RECORDABLE',
    30_000,
    250,
  );
  expect(view.retry.last_failure).not.toMatch(/unsupported Unicode|INSERT|127\.0\.0\.1/);

  // Another stream is not held back by it.
  const ok = await send('POST', `/databases/${db}/classes/K/instances`, { id: 'fine', properties: { v: 'ok' } }, { prefer: 'wait=30' });
  expect(ok.status).toBe(201);
  expect((await p.ledgerRows('aggregate_id = $1', [`${db}:fine`])).map((r) => r.status)).toEqual(['delivered']);
  await p.client.workflow.getHandle(workflowIdOf(poisoned)).terminate('test done');
});

test('EVENT_NOT_PROJECTABLE (the read models refuse what the ledger and Kafka took): RETRYING with that code', async () => {
  // Large enough for the ledger and Kafka to carry a stub (the body stays in S3), so only the
  // read models meet the U+0000.
  const big = `${'x'.repeat(950_000)}\u0000`;
  const commandId = await startDirect({ command_type: 'CREATE_INSTANCE', db_name: db, payload: { id: 'unprojectable', class_id: 'K', properties: { v: big }, relationships: {} } } as never);
  const view = await eventually(
    () => statusOf(commandId),
    (v) => v.status === 'RETRYING' && v.retry?.code === 'EVENT_NOT_PROJECTABLE',
    30_000,
    250,
  );
  expect(view.retry.last_failure).not.toMatch(/unsupported Unicode|INSERT|127\.0\.0\.1/);
  const [row] = await p.ledgerRows('aggregate_id = $1', [`${db}:unprojectable`]);
  expect(row).toMatchObject({ status: 'delivered' });
  expect(row.payload.truncated).toBe(true);
  await eventually(
    async () => p.messagesFor(`${db}:unprojectable`).length,
    (n) => n === 1,
  );
  expect((await send('GET', `/databases/${db}/instances/unprojectable`)).status).toBe(404);
  await p.client.workflow.getHandle(workflowIdOf(commandId)).terminate('test done');
});

test('EVENT_NOT_RECORDED (delivery of an event without a ledger row): FAILED with its code, not retried', async () => {
  // A worker whose ledger writes go nowhere: the relay then finds no row for the command's event.
  const taskQueue = `${p.taskQueue}-unrecorded`;
  const connection = await NativeConnection.connect({ address: testConfig.temporalAddress });
  const infra = p.api.infra;
  const worker: Worker = await createCommandWorker({
    connection,
    namespace: testConfig.TEMPORAL_NAMESPACE,
    taskQueue,
    deps: { ...infra.activityDeps(), ledger: { record: async () => [] } },
    rebuild: infra.rebuildDeps(),
    reconcile: infra.reconcileDeps(),
    workflowBundle: await workflowBundle(),
  });
  const running = worker.run();
  try {
    const commandId = await startDirect({ command_type: 'CREATE_INSTANCE', db_name: db, payload: { id: 'lost', class_id: 'K', properties: { v: 'x' }, relationships: {} } } as never, taskQueue);
    const view = await eventually(
      () => statusOf(commandId),
      (v) => v.status === 'FAILED' || v.retry?.attempt > 3,
      30_000,
      250,
    );
    expect(view.status).toBe('FAILED');
    expect(view.error).toMatchObject({ code: 'EVENT_NOT_RECORDED' });
  } finally {
    worker.shutdown();
    await running.catch(() => undefined);
    await connection.close();
  }
});

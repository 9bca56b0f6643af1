/**
 * Crash points (issue 17, item 2): a worker process SIGKILLed at each step boundary (after the S3
 * commit, after the ledger row, after Kafka's ack, inside the projection), with the command's
 * workflow left to Temporal's retry on another worker or terminated from the `temporal` CLI (then
 * the reconciliation takes over). Each event ends recorded, delivered (once after dedupe by
 * event-id), in stream order, and projected; the stores pass every invariant of the chaos run.
 *
 * The hooks are src/lib/crash-points.ts, armed in the worker processes only (SPICE_CRASH_POINTS),
 * each entry firing once across processes (SPICE_CRASH_STATE_DIR). Three worker processes serve the
 * task queue; one that dies is replaced. A crash also kills whatever else that worker had in hand
 * (earlier cases being retried), which must converge as well.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CRASH_POINTS, CrashPoint } from '../../src/lib/crash-points';
import { stackPaths } from '../../scripts/stack/services';
import { startPipeline, Pipeline } from '../support/pipeline';
import { startCrashWorkers, type CrashWorkers } from '../support/crash-workers';
import { eventually, testConfig, uniqueName } from '../support/env';
import { commandFinished, sendJson, seedDatabase } from '../support/http';
import { checkInvariants, problems } from '../support/invariants';

const db = 'crashes';
const cases = CRASH_POINTS.flatMap((point) => [false, true].map((terminate) => ({ point, terminate, id: `${point}-${terminate ? 'term' : 'retry'}` })));
/**
 * Known bug (issue 17 item 1, helper "faults"): the relay runs beside the projection, so the run
 * killed inside its projection has usually delivered the event already; once terminated, nothing
 * projects it, since the reconciliation only projects what it records or delivers. Its own test below.
 */
const unprojected = cases.find((c) => c.point === 'inside-projection' && c.terminate)!;
const subject = (id: string) => `${db}:${id}`;

let p: Pipeline;
let crash: CrashWorkers;
/**
 * Each crash costs the runs that worker held one workflow task timeout (10 s) before another
 * worker takes them: the cases start one after the other, each once the previous one's crash fired, so a crash
 * only ever kills runs whose own crash is behind them, and every crash point is passed.
 */
const WORKERS = 3;

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, path, body, headers);
const finished = (commandId: string) => commandFinished(p.url, commandId, 240_000);

beforeAll(async () => {
  p = await startPipeline('e2e-crash', testConfig, { worker: false });
  crash = await startCrashWorkers(
    p,
    WORKERS,
    'crash-worker',
    cases.map((c) => `${c.point}@${subject(c.id)}`),
  );
  await seedDatabase(p.url, db, { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] });
}, 600_000);

afterAll(async () => {
  await crash?.stop();
  await p?.close();
}, 120_000);

/** The crash point fired: its marker is written just before the SIGKILL. */
async function crashed(point: CrashPoint, id: string): Promise<void> {
  // A worker restart takes seconds on a quiet machine, more than a minute on a loaded one.
  await eventually(
    async () => crash.fired(point, subject(id)),
    (fired) => fired,
    240_000,
    50,
  ).catch((err: Error) => {
    throw new Error(`crash point ${point} of ${id} did not fire: ${err.message}`);
  });
}

/** Right after the crash: the run's workflow task times out only 10 s later, so it is still where it died. */
async function terminate(point: CrashPoint, commandId: string): Promise<void> {
  const temporal = stackPaths(testConfig).temporalBin;
  await promisify(execFile)(temporal, [
    'workflow',
    'terminate',
    '--workflow-id',
    `command-${commandId}`,
    '--reason',
    `crash test: ${point}`,
    '--address',
    testConfig.temporalAddress,
    '--namespace',
    testConfig.TEMPORAL_NAMESPACE,
  ]);
}

test('a worker killed at each step boundary, its workflow retried or terminated: every event recorded, delivered once after dedupe, in order, projected', async () => {
  await crashAndConverge(cases.filter((c) => c !== unprojected));
}, 900_000);

// Whether the relay beside the projection delivered before the kill is a race; either way the reconciliation
// projects the event: a pending row through its redelivery, a delivered one through the ledger rows the read
// models have not reached (issue 17 item 1).
test('killed inside the projection after delivering, its workflow terminated: the reconciliation projects the event', async () => {
  await crashAndConverge([unprojected]);
}, 900_000);

async function crashAndConverge(chosen: typeof cases): Promise<void> {
  const started = Date.now();
  const commands = chosen.map((c) => ({ ...c, commandId: '' }));
  const terminations: Promise<void>[] = [];
  for (const c of commands) {
    const created = await send('POST', `/databases/${db}/classes/Item/instances`, { id: c.id, properties: { n: 1 } });
    expect(created.status).toBe(202);
    c.commandId = created.body.command_id;
    await crashed(c.point, c.id);
    if (c.terminate) terminations.push(terminate(c.point, c.commandId));
  }
  await Promise.all(terminations);

  for (const c of commands.filter((c) => !c.terminate)) expect([c.id, (await finished(c.commandId)).status]).toEqual([c.id, 'COMPLETED']);

  // What the terminated runs left behind is the reconciliation's.
  await p.client.workflow.execute('reconcileDeliveries', { taskQueue: p.taskQueue, workflowId: uniqueName('reconcile'), args: [{ grace_seconds: 0 }] });
  for (const c of commands) {
    const read = await send('GET', `/databases/${db}/classes/Item/instances/${c.id}`);
    expect([c.id, read.status, read.body?.version]).toEqual([c.id, 200, 1]);
  }

  // The streams go on: a second event on each, after the one the crash met.
  for (const c of commands) {
    const updated = await send('PUT', `/databases/${db}/classes/Item/instances/${c.id}`, { properties: { n: 2 } }, { prefer: 'wait=60' });
    expect([c.id, updated.status === 200 ? 'COMPLETED' : (await finished(updated.body.command_id)).status]).toEqual([c.id, 'COMPLETED']);
  }

  const report = await checkInvariants({ infra: p.api.infra, prefix: p.prefix, client: p.client, taskQueue: p.taskQueue, rebuild: true });
  expect(problems(report)).toEqual({});
  for (const c of commands) {
    const rows = (await p.ledgerRows('aggregate_id = $1', [subject(c.id)])).sort((a, b) => a.aggregate_version - b.aggregate_version);
    const ids = await eventually(
      async () => [...new Set(p.messagesFor(subject(c.id)).map((m) => m.headers['event-id']))],
      (ids) => ids.length >= 2,
    );
    expect([c.id, ids]).toEqual([c.id, rows.map((r) => r.event_id)]);
    expect(rows.map((r) => [r.aggregate_version, r.status])).toEqual([
      [1, 'delivered'],
      [2, 'delivered'],
    ]);
  }
  console.log(
    `crash points: ${commands.length} crashes, ${crash.workers.started() - WORKERS} worker restarts so far, ${report.duplicates} duplicate message(s), ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

/**
 * Rolling upgrades with Temporal Worker Versioning, on the stack's dev server: workers of version 1
 * and version 2 of one deployment serve one task queue; after `set-current` moves new commands to
 * version 2, a command in flight on version 1 finishes on version 1 (it is pinned) while version 2
 * takes the new ones, and no workflow task fails, although version 2's workflow code would not
 * replay a version-1 history. The workers pin their workflows (src/app/worker-versioning.ts); with
 * AUTO_UPGRADE instead, this test fails with a non-determinism error (checked when it was written).
 */
import path from 'node:path';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { createCommandWorker } from '../../src/app/command-worker';
import { describeDeployment, setCurrentVersion, workerDeploymentOptions, type DeploymentView } from '../../src/app/worker-versioning';
import { loadConfig } from '../../src/app/config';
import { startPipeline, workflowBundle, type Pipeline } from '../support/pipeline';
import { eventually, testConfig, uniqueName } from '../support/env';
import { commandFinished, sendJson, seedDatabase } from '../support/http';
import { runOps } from '../support/ops';

let p: Pipeline;
let connection: NativeConnection;
const workers: Array<{ worker: Worker; running: Promise<void> }> = [];
const deploymentName = uniqueName('spice-oms-e2e');
const db = 'versioning';
/** Kafka "unavailable" for the version-1 worker while set: the command waits in its deliver activity. */
let relayBlocked = false;

const send = (method: string, p2: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, p2, body, headers);

async function startVersionedWorker(buildId: string, bundle: { code: string }, blockable: boolean): Promise<void> {
  const infra = p.api.infra;
  const deps = infra.activityDeps();
  const worker = await createCommandWorker({
    connection,
    namespace: testConfig.TEMPORAL_NAMESPACE,
    taskQueue: p.taskQueue,
    deps: blockable
      ? {
          ...deps,
          relay: {
            publishThrough: async (ids) => {
              if (relayBlocked) throw new Error('kafka unavailable (test)');
              return deps.relay.publishThrough(ids);
            },
          },
        }
      : deps,
    rebuild: infra.rebuildDeps(),
    reconcile: infra.reconcileDeps(),
    workflowBundle: bundle,
    tuning: { workerDeploymentOptions: workerDeploymentOptions(loadConfig({ WORKER_VERSIONING: 'true', WORKER_DEPLOYMENT_NAME: deploymentName, WORKER_BUILD_ID: buildId })) },
  });
  workers.push({ worker, running: worker.run() });
}

/** What `npm run ops -- deploy set-current` does (the first time, from code); the version exists once its workers have polled. */
async function setCurrent(buildId: string): Promise<void> {
  await eventually(
    () =>
      setCurrentVersion(p.client, deploymentName, buildId, 'e2e').then(
        () => true,
        (e: Error) => e.message,
      ),
    (r) => r === true,
    30_000,
    500,
  );
}

/** The build id of every completed workflow task of a command's run, and whether any task failed. */
async function workflowTasks(commandId: string) {
  const history = await p.client.workflow.getHandle(`command-${commandId}`).fetchHistory();
  const events = history.events ?? [];
  return {
    buildIds: events.filter((e) => e.workflowTaskCompletedEventAttributes).map((e) => e.workflowTaskCompletedEventAttributes!.deploymentVersion?.buildId),
    failed: events.filter((e) => e.workflowTaskFailedEventAttributes).map((e) => e.workflowTaskFailedEventAttributes!.cause),
  };
}

beforeAll(async () => {
  p = await startPipeline('e2e-versioning', testConfig, { worker: false });
  connection = await NativeConnection.connect({ address: testConfig.temporalAddress });
  await startVersionedWorker('v1', await workflowBundle(), true);
  await setCurrent('v1');
  await seedDatabase(p.url, db, { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] });
}, 180_000);

afterAll(async () => {
  for (const w of workers) if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
  await Promise.all(workers.map((w) => w.running.catch(() => undefined)));
  await connection?.close();
  await p?.close();
});

test('a command in flight on version 1 finishes on version 1 while version 2 takes the new ones, with no non-determinism', async () => {
  relayBlocked = true;
  const a = await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'a', properties: { n: 1 } });
  expect(a.status).toBe(202);
  const aId: string = a.body.command_id;
  // In flight on v1: stored, waiting in its deliver activity.
  await eventually(
    () => send('GET', `/commands/${aId}`).then((r) => r.body),
    (s) => s.status === 'RETRYING',
    60_000,
    200,
  );

  const [v2Bundle, early] = await Promise.all([
    bundleWorkflowCode({
      workflowsPath: path.join(__dirname, 'versioning', 'v2-workflows.ts'),
      logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never,
    }),
    // No worker of v2 has polled yet: the operator's CLI refuses, in one line, and nothing moves.
    runOps(['deploy', 'set-current', 'v2', '--deployment', deploymentName]),
  ]);
  expect(early.code).toBe(1);
  expect(early.stderr).toMatch(/^ops: [^\n]+\n$/);
  expect((await describeDeployment(p.client, deploymentName)).current).toBe('v1');

  await startVersionedWorker('v2', v2Bundle, false);
  await eventually(
    () => describeDeployment(p.client, deploymentName),
    (v) => v.versions.some((x) => x.build_id === 'v2'),
    30_000,
    500,
  );
  const moved = await runOps(['--json', 'deploy', 'set-current', 'v2', '--deployment', deploymentName]);
  expect([moved.code, moved.stderr]).toEqual([0, '']);
  expect(JSON.parse(moved.stdout)).toEqual({ deployment: deploymentName, current: 'v2', previous: 'v1' });

  const b = await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'b', properties: { n: 2 } }, { prefer: 'wait=30' });
  expect([b.status, b.body.status]).toEqual([201, 'COMPLETED']);

  relayBlocked = false;
  const aDone = await commandFinished(p.url, aId, 60_000);
  expect(aDone.status).toBe('COMPLETED');

  const aTasks = await workflowTasks(aId);
  const bTasks = await workflowTasks(b.body.command_id);
  expect(aTasks.buildIds.length).toBeGreaterThan(1);
  expect(new Set(aTasks.buildIds)).toEqual(new Set(['v1']));
  expect(new Set(bTasks.buildIds)).toEqual(new Set(['v2']));
  expect([aTasks.failed, bTasks.failed]).toEqual([[], []]);
  const behaviour = async (id: string) => (await p.client.workflow.getHandle(`command-${id}`).describe()).raw.workflowExecutionInfo?.versioningInfo?.behavior;
  expect(await behaviour(aId)).toBe(1); // VERSIONING_BEHAVIOR_PINNED
  const described = await runOps(['--json', 'deploy', 'describe', '--deployment', deploymentName]);
  expect(described.code).toBe(0);
  const view = JSON.parse(described.stdout) as DeploymentView;
  expect(view.current).toBe('v2');
  expect(view.versions.map((v) => v.build_id).sort()).toEqual(['v1', 'v2']);
  // Both commands' events reached Kafka and the read models.
  await p.waitForMessages(3);
  expect((await send('GET', `/databases/${db}/classes/Item/instances/a`)).status).toBe(200);
  expect((await send('GET', `/databases/${db}/classes/Item/instances/b`)).status).toBe(200);
});

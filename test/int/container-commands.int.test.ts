/**
 * What the container runs, run here: the image's build step that bundles the workflow code, then the
 * API and the worker started with exactly the Dockerfile's CMD and the compose file's worker command
 * (the package.json scripts), with the runtime stage's environment, pointed at the stack. The API
 * must answer /health/live and /health/ready, the worker must poll its task queue with the
 * prebuilt bundle, answer the container health check, and stop within its shutdown bound.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { composeFile, dockerStages, read, ROOT } from '../support/deploy-files';
import { eventually, testConfig, uniqueName } from '../support/env';
import { httpOk } from '../../scripts/stack/services';

const runtime = dockerStages(read('Dockerfile')).at(-1)!;
const children: ChildProcess[] = [];
const output = new Map<ChildProcess, string>();
const taskQueue = uniqueName('container-commands');
let client: Client;
let bundleDir: string;

/** The runtime stage's ENV with the stack's addresses in place of the compose network's. */
function containerEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: Record<string, string> = {};
  for (const i of runtime.instructions.filter((x) => x.keyword === 'ENV')) for (const m of i.args.matchAll(/([A-Z_][A-Z0-9_]*)=(\S*)/g)) env[m[1]] = m[2];
  env.SPICE_GIT_SHA = 'test';
  env.WORKER_WORKFLOW_BUNDLE = path.join(bundleDir, 'workflow-bundle.js');
  const { PATH, HOME } = process.env;
  return {
    PATH,
    HOME,
    ...env,
    TEMPORAL_ADDRESS: testConfig.temporalAddress,
    S3_ENDPOINT: testConfig.s3Endpoint,
    S3_ACCESS_KEY: testConfig.S3_ACCESS_KEY,
    S3_SECRET_KEY: testConfig.S3_SECRET_KEY,
    KAFKA_BROKERS: testConfig.kafkaBrokers.join(','),
    DATABASE_URL: testConfig.databaseUrl,
    DATABASE_OWNER_URL: testConfig.databaseOwnerUrl,
    // A deployment's own secret (from spice-oms-secrets in Kubernetes, SPICE_API_KEY_SECRET in compose).
    API_KEY_SECRET: 'container-commands-test-secret',
    PERSONAL_DATA_MASTER_KEY: Buffer.alloc(32, 2).toString('base64'),
    TEMPORAL_TASK_QUEUE: taskQueue,
    KAFKA_TOPIC: taskQueue,
    LOG_LEVEL: 'info',
    ...extra,
  };
}

function start(argv: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  output.set(child, '');
  for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => output.set(child, output.get(child) + d.toString()));
  children.push(child);
  return child;
}

const freePort = () => 20000 + Math.floor(Math.random() * 20000);

beforeAll(async () => {
  bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spice-oms-image-'));
  // The Dockerfile's build step, as written there.
  const step = dockerStages(read('Dockerfile'))
    .find((s) => s.name === 'build')!
    .instructions.find((i) => i.args.includes('bundle-workflows'))!;
  const command = step.args.replace(/^mkdir -p dist && /, '').split(/\s+/);
  execFileSync(command[0], [...command.slice(1, -1), path.join(bundleDir, 'workflow-bundle.js')], { cwd: ROOT, stdio: 'pipe' });
  client = new Client({ connection: await Connection.connect({ address: testConfig.temporalAddress }), namespace: testConfig.TEMPORAL_NAMESPACE });
}, 180_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  // The worker registered its reconciliation schedule for this task queue.
  await client?.schedule
    .getHandle(`spice-oms-reconcile-${taskQueue}`)
    .delete()
    .catch(() => undefined);
  await client?.connection.close();
  fs.rmSync(bundleDir, { recursive: true, force: true });
});

test('the API started with the image CMD answers its liveness and readiness routes', async () => {
  const port = freePort();
  const api = start(JSON.parse(runtime.instructions.filter((i) => i.keyword === 'CMD').at(-1)!.args), containerEnv({ API_PORT: String(port) }));
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    () => httpOk(`${url}/health/live`),
    (r) => r.ok || api.exitCode !== null,
    90_000,
    250,
  );
  expect(api.exitCode).toBeNull();
  const ready = await eventually(
    () => httpOk(`${url}/health/ready`, 5000),
    (r) => r.ok,
    30_000,
    500,
  );
  expect(JSON.parse(ready.body).status).toBe('ok');
  // The image's HEALTHCHECK command.
  execFileSync('node', ['scripts/healthcheck.cjs'], { cwd: ROOT, env: { ...process.env, API_PORT: String(port) } });
  api.kill('SIGTERM');
  await new Promise((r) => api.once('exit', r));
}, 180_000);

test('the worker started with the compose command polls with the prebuilt bundle and stops within its bound on SIGTERM', async () => {
  const metricsPort = freePort();
  const env = containerEnv({ WORKER_METRICS_PORT: String(metricsPort), WORKER_SHUTDOWN_GRACE_S: '5' });
  const worker = start(composeFile().services.worker.command, env);
  await eventually(
    async () => (await client.workflowService.describeTaskQueue({ namespace: testConfig.TEMPORAL_NAMESPACE, taskQueue: { name: taskQueue }, taskQueueType: 1 })).pollers?.length ?? 0,
    (n) => n > 0 || worker.exitCode !== null,
    120_000,
    500,
  );
  expect([worker.exitCode, output.get(worker)]).toEqual([null, expect.stringContaining(env.WORKER_WORKFLOW_BUNDLE!)]);
  execFileSync('node', ['scripts/healthcheck.cjs', 'worker'], { cwd: ROOT, env: { ...process.env, WORKER_METRICS_PORT: String(metricsPort) } });
  const stopped = Date.now();
  worker.kill('SIGTERM');
  const code = await new Promise((r) => worker.once('exit', r));
  expect(code).toBe(0);
  // Grace (5 s) plus the forced stop's margin (10 s).
  expect(Date.now() - stopped).toBeLessThan(15_000);
}, 240_000);

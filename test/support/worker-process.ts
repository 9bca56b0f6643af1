/**
 * A worker in its own OS process, for tests that need two processes on one task queue: nothing
 * shared in memory, not even the Node runtime. Started by startWorkerProcess(); the isolation
 * (schemas, S3 prefix, topic, task queue) of the test's pipeline comes in SPICE_TEST_WORKER as JSON.
 * Prints "ready" once it polls, and drains on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { connectInfrastructure } from '../../src/app/composition';
import { bundleInChildProcess, createCommandWorker, prebuiltBundle } from '../../src/app/command-worker';
import { createLogger } from '../../src/app/logger';
import { serveProcessMetrics } from '../../src/app/metrics-server';
import { installRuntime, sdkMetricsUrl, startProcessTelemetry } from '../../src/app/process-telemetry';
import { loadConfig } from '../../src/app/config';

export interface WorkerProcessSpec {
  schema: string;
  readModelSchema: string;
  s3Prefix: string;
  topic: string;
  taskQueue: string;
  identity: string;
  /** A workflow bundle built ahead (bundleInChildProcess): a restart then takes seconds, not a bundling. */
  workflowBundle?: string;
}

export interface WorkerProcess {
  pid: number;
  /** Resolves when the process has exited, however. */
  exited: Promise<void>;
  /** SIGTERM (the worker drains), SIGKILL after 10 s. */
  stop(): Promise<void>;
  /** SIGKILL: the process dies mid-work, as on a crash or an OOM kill. */
  kill(): Promise<void>;
}

const STOP_GRACE_MS = 10_000;

/** Spawns the worker and resolves once it polls the task queue. */
export function startWorkerProcess(spec: WorkerProcessSpec, timeoutMs = 120_000, env: NodeJS.ProcessEnv = {}): Promise<WorkerProcess> {
  // One process (no tsx wrapper in front): a signal reaches the worker itself, and a SIGKILL leaves no orphan.
  const child: ChildProcess = spawn(process.execPath, ['--require', 'tsx/cjs', __filename], {
    env: { ...process.env, ...env, SPICE_TEST_WORKER: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: path.join(__dirname, '..', '..'),
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    // Draining is bounded: a worker still busy after that is killed, not left behind.
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(killer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`worker process not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        clearTimeout(timer);
        resolve({
          pid: child.pid!,
          exited,
          stop,
          async kill() {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
            await exited;
          },
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker process exited with ${code} before it was ready`));
    });
  });
}

export interface WorkerPool {
  /** Processes started so far, the first `size` included. */
  started(): number;
  /** SIGKILLs one running worker (the pool starts another); false when none runs. */
  killOne(): boolean;
  stop(): Promise<void>;
}

/**
 * `size` worker processes on one task queue, each replaced as soon as it dies (a crash point, a
 * SIGKILL): what a process supervisor does. Resolves once the first ones poll.
 */
export async function startWorkerPool(size: number, spec: WorkerProcessSpec, env: NodeJS.ProcessEnv = {}): Promise<WorkerPool> {
  const running = new Set<WorkerProcess>();
  const starting = new Set<Promise<WorkerProcess>>();
  let stopping = false;
  let started = 0;
  const startOne = async (): Promise<void> => {
    const next = startWorkerProcess({ ...spec, identity: `${spec.identity}-${started++}` }, 240_000, env);
    starting.add(next);
    const w = await next.finally(() => starting.delete(next));
    // Ready only after stop() looked at the running ones: stopped here, or it would outlive the pool.
    if (stopping) return w.stop();
    running.add(w);
    void w.exited.then(() => {
      running.delete(w);
      void replace();
    });
  };
  // What a supervisor does: a replacement started while a service is down exits at its start-up
  // check (STARTUP_FAILED), so it is tried again until one polls.
  const replace = async (): Promise<void> => {
    while (!stopping) {
      try {
        return await startOne();
      } catch (err) {
        console.error(`worker pool: a worker did not start (${(err as Error).message}); again in 2 s`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  };
  await Promise.all(Array.from({ length: size }, startOne));
  return {
    started: () => started,
    killOne() {
      const victims = [...running];
      const w = victims[Math.floor(Math.random() * victims.length)];
      if (!w) return false;
      running.delete(w);
      process.kill(w.pid, 'SIGKILL');
      return true;
    },
    async stop() {
      stopping = true;
      await Promise.allSettled([...starting]);
      await Promise.all([...running].map((w) => w.stop()));
    },
  };
}

async function main(spec: WorkerProcessSpec): Promise<void> {
  const config = loadConfig();
  // Observable as worker.ts makes a worker: SDK runtime, tracing, gauges and /metrics from the config.
  const log = createLogger('silent', 'worker');
  installRuntime(config, log);
  const infra = await connectInfrastructure(config, { schema: spec.schema, readModelSchema: spec.readModelSchema, s3Prefix: spec.s3Prefix, topic: spec.topic });
  const telemetry = startProcessTelemetry(config, 'spice-oms-worker', infra, log);
  const metrics =
    config.WORKER_METRICS_PORT !== undefined ? await serveProcessMetrics(config.WORKER_METRICS_BIND_HOST, config.WORKER_METRICS_PORT, 'WORKER_METRICS_PORT', sdkMetricsUrl(config)) : undefined;
  await infra.relay.start();
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const worker = await createCommandWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: spec.taskQueue,
    deps: infra.activityDeps(),
    rebuild: infra.rebuildDeps(),
    reconcile: infra.reconcileDeps(),
    search: infra.searchDeps(),
    migration: infra.migrationDeps(),
    workflowBundle: spec.workflowBundle ? prebuiltBundle(spec.workflowBundle) : await bundleInChildProcess(),
    tuning: { identity: spec.identity },
  });
  process.once('SIGTERM', () => worker.shutdown());
  const running = worker.run();
  process.stdout.write('ready\n');
  await running;
  metrics?.close();
  await connection.close();
  await telemetry.stop();
  await infra.close();
}

if (require.main === module) {
  main(JSON.parse(process.env.SPICE_TEST_WORKER ?? '{}') as WorkerProcessSpec).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

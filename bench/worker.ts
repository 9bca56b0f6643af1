/**
 * The benchmark's own worker entry point (`npm run bench -- --worker bench`): the shipped worker
 * with extra worker options from BENCH_WORKER_OPTIONS (JSON, e.g. {"maxCachedWorkflows":2000,
 * "maxConcurrentWorkflowTaskExecutions":100}), for tuning experiments. Nothing in src/ changes.
 */
import { NativeConnection, Runtime, DefaultLogger, WorkerOptions } from '@temporalio/worker';
import { loadConfig } from '../src/app/config';
import { connectInfrastructure } from '../src/app/composition';
import { createCommandWorker } from '../src/app/command-worker';
import { temporalConnectionOptions } from '../src/app/temporal-connection';

async function main(): Promise<void> {
  const config = loadConfig();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const infra = await connectInfrastructure(config, { poolMax: config.PG_POOL_MAX });
  await infra.relay.start();
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const extra = JSON.parse(process.env.BENCH_WORKER_OPTIONS ?? '{}') as Partial<WorkerOptions>;
  const worker = await createCommandWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    deps: infra.activityDeps(),
    rebuild: infra.rebuildDeps(),
    reconcile: infra.reconcileDeps(),
    search: infra.searchDeps(),
    migration: infra.migrationDeps(),
    tuning: { maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS, ...extra },
  });
  try {
    await worker.run();
  } finally {
    await connection.close();
    await infra.close();
  }
}

main().catch((err) => {
  process.stderr.write(`bench worker: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

/**
 * The benchmark's own worker entry point (`npm run bench -- --worker bench`): worker.ts with worker
 * options from BENCH_WORKER_OPTIONS (JSON, e.g. {"maxCachedWorkflows":2000,"workflowTaskPollerBehavior":
 * {"type":"autoscaling"}}) and, with BENCH_WORKFLOWS=local, the bench copy of the workflow that runs
 * its activities as local activities (bench/workflows-local). Nothing in src/ changes.
 */
import path from 'node:path';
import { NativeConnection, Runtime, DefaultLogger, Worker, WorkerOptions } from '@temporalio/worker';
import { loadConfig } from '../src/config';
import { connectInfrastructure } from '../src/composition';
import { createActivities } from '../src/activities';
import { WORKFLOWS_PATH } from '../src/command-worker';

async function main(): Promise<void> {
  const config = loadConfig();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const infra = await connectInfrastructure(config, { poolMax: config.PG_POOL_MAX });
  await infra.relay.start();
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const extra = JSON.parse(process.env.BENCH_WORKER_OPTIONS ?? '{}') as Partial<WorkerOptions>;
  const workflowsPath = process.env.BENCH_WORKFLOWS === 'local' ? path.join(__dirname, 'workflows-local', 'index.ts') : WORKFLOWS_PATH;
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowsPath,
    activities: createActivities(infra.activityDeps()),
    ...extra,
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

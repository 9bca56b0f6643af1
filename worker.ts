/**
 * A worker process: `npm run worker`. Serves the command task queue until SIGINT/SIGTERM, then
 * drains (the SDK finishes the tasks in hand). Run several to scale out.
 */
import { NativeConnection } from '@temporalio/worker';
import { Client } from '@temporalio/client';
import { loadConfig } from './src/app/config';
import { createLogger } from './src/app/logger';
import { connectInfrastructure } from './src/app/composition';
import { bundleInChildProcess, createCommandWorker, prebuiltBundle, workerProcessOptions } from './src/app/command-worker';
import { temporalConnectionOptions } from './src/app/temporal-connection';
import { ensureReconcileSchedule } from './src/app/reconcile-schedule';
import { serveProcessMetrics } from './src/app/metrics-server';
import { installRuntime, sdkMetricsUrl, startProcessTelemetry } from './src/app/process-telemetry';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL, 'worker');
  installRuntime(config, log);
  const infra = await connectInfrastructure(config, { poolMax: config.PG_POOL_MAX });
  const telemetry = startProcessTelemetry(config, 'spice-oms-worker', infra, log);
  await infra.relay.start();
  const connection = await NativeConnection.connect(temporalConnectionOptions(config));
  const workflowBundle = config.WORKER_WORKFLOW_BUNDLE !== undefined ? prebuiltBundle(config.WORKER_WORKFLOW_BUNDLE) : await bundleInChildProcess();
  const processOptions = workerProcessOptions(config);
  const worker = await createCommandWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    deps: infra.activityDeps(),
    log,
    workflowBundle,
    tuning: {
      ...processOptions,
      maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
      maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
      maxConcurrentLocalActivityExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    },
    rebuild: infra.rebuildDeps(),
    reconcile: infra.reconcileDeps(),
    search: infra.searchDeps(),
    migration: infra.migrationDeps(),
  });
  await ensureReconcileSchedule(new Client({ connection, namespace: config.TEMPORAL_NAMESPACE }), {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    everySeconds: config.RECONCILE_INTERVAL_S,
    graceSeconds: config.RECONCILE_GRACE_S,
  });
  const metrics = config.WORKER_METRICS_PORT !== undefined ? await serveProcessMetrics(config.WORKER_METRICS_BIND_HOST, config.WORKER_METRICS_PORT, sdkMetricsUrl(config)) : undefined;
  log.info(
    {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      temporal: config.temporalAddress,
      storageMode: config.storageMode,
      metricsPort: config.WORKER_METRICS_PORT,
      workflowBundle: workflowBundle.codePath,
      version: processOptions.workerDeploymentOptions?.version,
      versioning: config.WORKER_VERSIONING,
    },
    'worker started',
  );
  try {
    await worker.run();
  } finally {
    metrics?.close();
    await connection.close();
    await telemetry.stop();
    await infra.close();
    log.info('worker stopped');
  }
}

main().catch((err) => {
  process.stderr.write(`worker: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

/**
 * A worker process: `npm run worker`. Serves the command task queue until SIGINT/SIGTERM, then
 * drains (the SDK finishes the tasks in hand, within WORKER_SHUTDOWN_GRACE_S) and closes its
 * connections. A start that cannot bind or reach a service exits 1 with one line saying which.
 * Run several to scale out.
 */
import { NativeConnection, type Worker } from '@temporalio/worker';
import { Client } from '@temporalio/client';
import { loadConfig } from './src/app/config';
import { createLogger } from './src/app/logger';
import { connectInfrastructure } from './src/app/composition';
import { bundleInChildProcess, createCommandWorker, prebuiltBundle, workerProcessOptions } from './src/app/command-worker';
import { temporalConnectionOptions } from './src/app/temporal-connection';
import { ensureReconcileSchedule } from './src/app/reconcile-schedule';
import { serveProcessMetrics } from './src/app/metrics-server';
import { installRuntime, sdkMetricsUrl, startProcessTelemetry } from './src/app/process-telemetry';
import { exitStartFailed, reachService } from './src/app/startup';

let worker: Worker | undefined;
let started = false;
/**
 * The first SIGINT/SIGTERM drains a running worker; one that comes during the start ends the
 * process at once (nothing is in hand yet). The SDK's own handler would leave a starting process running.
 */
function onStopSignal(): void {
  if (!started) process.exit(0);
  if (worker?.getState() === 'RUNNING') worker.shutdown();
}
process.on('SIGINT', onStopSignal);
process.on('SIGTERM', onStopSignal);

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL, 'worker');
  installRuntime(config, log);
  // Bound first: a port in use stops the start before anything else is connected.
  const metrics =
    config.WORKER_METRICS_PORT !== undefined ? await serveProcessMetrics(config.WORKER_METRICS_BIND_HOST, config.WORKER_METRICS_PORT, 'WORKER_METRICS_PORT', sdkMetricsUrl(config)) : undefined;
  const infra = await connectInfrastructure(config, { poolMax: config.PG_POOL_MAX });
  const telemetry = startProcessTelemetry(config, 'spice-oms-worker', infra, log);
  await infra.relay.start();
  const connection = await reachService(config, 'temporal', () => NativeConnection.connect(temporalConnectionOptions(config)));
  const workflowBundle = config.WORKER_WORKFLOW_BUNDLE !== undefined ? prebuiltBundle(config.WORKER_WORKFLOW_BUNDLE) : await bundleInChildProcess(config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined);
  const processOptions = workerProcessOptions(config);
  worker = await createCommandWorker({
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
  const running = worker.run();
  started = true;
  try {
    await running;
  } finally {
    metrics?.close();
    await connection.close();
    await telemetry.stop();
    await infra.close();
    log.info('worker stopped');
  }
}

main().then(
  () => process.exit(0),
  (err) => exitStartFailed('worker', err),
);

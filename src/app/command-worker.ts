/**
 * A worker of the command task queue: the bundled workflow code plus the activities over the
 * given adapters. Several processes may run it on one queue; Temporal spreads the work.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NativeConnection, Worker, WorkerOptions } from '@temporalio/worker';
import { WORKFLOWS_PATH, workflowBundleOptions } from './workflows-path';
import type { Config } from './config';
import { workerDeploymentOptions } from './worker-versioning';
import type { Logger } from './logger';
import { activeTracing, workerTracing } from './tracing';
import { activityTelemetry, commandSinks, retryTracker } from './worker-telemetry';
import { createActivities, ActivityDeps } from '../activities';
import { createRebuildActivities, RebuildDeps } from '../activities/rebuild';
import { createReconcileActivities, ReconcileDeps } from '../activities/reconcile';
import { createSearchActivities, SearchMaintenanceDeps } from '../activities/search';
import { createMigrationActivities, MigrationDeps } from '../activities/migration';

export interface CommandWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  rebuild: RebuildDeps;
  reconcile: ReconcileDeps;
  /** The search index's maintenance (absent with SEARCH_ENGINE=postgres: its steps then do nothing). */
  search?: SearchMaintenanceDeps;
  /** The migration workflows' activities (backfill, verify, reverse sync); absent: this worker runs none. */
  migration?: MigrationDeps;
  tuning?: Partial<WorkerOptions>;
  /** Where activity outcomes are logged with the command's ids (silent unless given). */
  log?: Logger;
  /** A pre-built bundle (tests build it once); otherwise the workflow code is bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export { WORKFLOWS_PATH };

/** A bundle built ahead of time (the image's WORKER_WORKFLOW_BUNDLE); a missing file stops the start. */
export function prebuiltBundle(codePath: string): { codePath: string } {
  if (!fs.existsSync(codePath)) throw new Error(`WORKER_WORKFLOW_BUNDLE: no workflow bundle at ${codePath}`);
  return { codePath };
}

/** What every worker process takes from the config: the version it declares and its shutdown bounds. */
export function workerProcessOptions(config: Config): Partial<WorkerOptions> {
  return {
    workerDeploymentOptions: workerDeploymentOptions(config),
    nonStickyToStickyPollRatio: config.WORKER_NON_STICKY_POLL_RATIO,
    shutdownGraceTime: config.workerShutdown.graceMs,
    shutdownForceTime: config.workerShutdown.forceAfterMs,
  };
}

/**
 * Bundles the workflow code in a child process and returns the bundle's path. Bundling in the
 * worker itself would leave webpack's ~100+ MB in the worker's resident memory for its lifetime.
 * `traced`: with the OpenTelemetry workflow interceptors (workflowBundleOptions), for a process
 * that exports traces.
 */
export async function bundleInChildProcess(traced = true): Promise<{ codePath: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spice-oms-bundle-'));
  const codePath = path.join(dir, 'workflow-bundle.js');
  const script = path.join(__dirname, '..', '..', 'scripts', 'bundle-workflows.ts');
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [...process.execArgv, script, codePath, ...(traced ? [] : ['--untraced'])], { env: process.env }, (err, _out, stderr) =>
      err ? reject(new Error(`bundling the workflow code failed: ${stderr || err.message}`)) : resolve(),
    );
  });
  return { codePath };
}

/**
 * The sinks the workflow code reports through: a traced bundle calls the span exporter sink, so
 * every worker, replay workers included, injects it, tracing on or off.
 */
export function workflowSinks() {
  return { ...workerTracing(activeTracing()).sinks, ...commandSinks() };
}

export function createCommandWorker(o: CommandWorkerOptions): Promise<Worker> {
  const tracing = workerTracing(activeTracing());
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: {
      ...createActivities(o.deps),
      ...createRebuildActivities(o.rebuild),
      ...createReconcileActivities(o.reconcile),
      ...createSearchActivities(o.search),
      ...(o.migration ? createMigrationActivities(o.migration) : {}),
    },
    interceptors: {
      // Bundled here: the workflow interceptors only when this process exports traces.
      ...(o.workflowBundle ? {} : { workflowModules: workflowBundleOptions(activeTracing().enabled).workflowInterceptorModules }),
      activity: [...tracing.activity, activityTelemetry(o.log, retryTracker)],
    },
    sinks: workflowSinks(),
    ...o.tuning,
  });
}

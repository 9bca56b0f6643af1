/**
 * A worker of the command task queue: the bundled workflow code plus the activities over the
 * given adapters. Several processes may run it on one queue; Temporal spreads the work.
 */
import { NativeConnection, Worker, WorkerOptions } from '@temporalio/worker';
import { createActivities, ActivityDeps } from './activities';
import { createRebuildActivities, RebuildDeps } from './activities/rebuild';
import { createReconcileActivities, ReconcileDeps } from './activities/reconcile';

export interface CommandWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  rebuild: RebuildDeps;
  reconcile: ReconcileDeps;
  tuning?: Partial<WorkerOptions>;
  /** A pre-built bundle (tests build it once); otherwise the workflow code is bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
}

export const WORKFLOWS_PATH = require.resolve('./workflows');

export function createCommandWorker(o: CommandWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: { ...createActivities(o.deps), ...createRebuildActivities(o.rebuild), ...createReconcileActivities(o.reconcile) },
    ...o.tuning,
  });
}

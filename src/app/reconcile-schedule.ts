/**
 * The reconciliation runs as a Temporal schedule per task queue, created by every worker of that
 * queue at start (the first one wins; later ones update its interval), visible and pausable in the Web UI.
 */
import { Client, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import { reconcileDeliveries } from '../workflows/reconcile';

/** One schedule per task queue: deployments sharing a namespace do not take each other's over. */
export const reconcileScheduleId = (taskQueue: string): string => `spice-oms-reconcile-${taskQueue}`;

export async function ensureReconcileSchedule(client: Client, o: { taskQueue: string; everySeconds: number; graceSeconds: number }): Promise<void> {
  const action = {
    type: 'startWorkflow' as const,
    workflowType: reconcileDeliveries,
    taskQueue: o.taskQueue,
    args: [{ grace_seconds: o.graceSeconds }] as [{ grace_seconds: number }],
  };
  const spec = { intervals: [{ every: o.everySeconds * 1000 }] };
  try {
    await client.schedule.create({
      scheduleId: reconcileScheduleId(o.taskQueue),
      spec,
      action,
      // A slow run is never doubled: the next one waits for its turn.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(reconcileScheduleId(o.taskQueue)).update((prev) => ({ ...prev, spec, action }));
  }
}

/**
 * Removes the schedule of a task queue that no worker will serve again (a benchmark's or a test's
 * own queue): left behind, it starts a workflow every interval that nobody ever runs. Gone already is fine.
 */
export async function deleteReconcileSchedule(client: Client, taskQueue: string): Promise<void> {
  try {
    await client.schedule.getHandle(reconcileScheduleId(taskQueue)).delete();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
}

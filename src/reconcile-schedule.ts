/**
 * The reconciliation runs as a Temporal schedule, created by every worker at start (the first one
 * wins; later ones find it and update its interval), visible and pausable in the Web UI.
 */
import { Client, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';

export const RECONCILE_SCHEDULE_ID = 'spice-oms-reconcile';

export async function ensureReconcileSchedule(client: Client, o: { taskQueue: string; everySeconds: number; graceSeconds: number }): Promise<void> {
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'reconcileDeliveries',
    taskQueue: o.taskQueue,
    args: [{ grace_seconds: o.graceSeconds }],
  };
  const spec = { intervals: [{ every: o.everySeconds * 1000 }] };
  try {
    await client.schedule.create({
      scheduleId: RECONCILE_SCHEDULE_ID,
      spec,
      action,
      // A slow run is never doubled: the next one waits for its turn.
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).update((prev) => ({ ...prev, spec, action }));
  }
}

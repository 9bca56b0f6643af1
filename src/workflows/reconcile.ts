/** reconcileDeliveries: run by a Temporal schedule (see src/app/reconcile-schedule.ts). */
import { proxyActivities } from '@temporalio/workflow';
import type { ReconcileActivities, ReconcileResult } from '../activities/reconcile';

const { reconcile } = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5 },
});

export async function reconcileDeliveries(input: { grace_seconds?: number; max_events?: number } = {}): Promise<ReconcileResult> {
  return reconcile({ grace_seconds: input.grace_seconds ?? 60, max_events: input.max_events ?? 10_000 });
}

/** reconcileDeliveries: run by a Temporal schedule (see src/app/reconcile-schedule.ts). */
import { ParentClosePolicy, patched, proxyActivities, startChild } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ReconcileActivities, ReconcileResult } from '../activities/reconcile';
import type { SearchActivities } from '../activities/search';
import { reindexSearch, reindexWorkflowId } from './reindex-search';

const { reconcile } = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5 },
});
const search = proxyActivities<SearchActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/** Histories recorded before the search index existed replay without its steps. */
const SEARCH_RECONCILE = 'search-reconcile';

export interface SearchReconcileResult {
  /** Instances whose search documents this run compared with the read models. */
  search_checked: number;
  /** Documents written again because they were missing or behind their stream version. */
  search_reprojected: number;
  /** Databases whose reindex this run started. */
  search_reindex_started: string[];
}

export async function reconcileDeliveries(input: { grace_seconds?: number; max_events?: number; search_sweep?: number } = {}): Promise<ReconcileResult & Partial<SearchReconcileResult>> {
  const result = await reconcile({ grace_seconds: input.grace_seconds ?? 60, max_events: input.max_events ?? 10_000 });
  if (!patched(SEARCH_RECONCILE)) return result;
  const sweep = await search.searchReconcileSweep({ limit: input.search_sweep ?? 5000 });
  const started: string[] = [];
  for (const { db, alias } of await search.searchPendingReindexes()) {
    try {
      await startChild(reindexSearch, { workflowId: reindexWorkflowId(alias), args: [{ db }], parentClosePolicy: ParentClosePolicy.ABANDON });
      started.push(db);
    } catch (err) {
      // A reindex of that database is already running: it serves the request.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }
  return { ...result, search_checked: sweep.checked, search_reprojected: sweep.reprojected, search_reindex_started: started };
}

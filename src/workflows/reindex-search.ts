/**
 * reindexSearch: moves one database's search documents into a new index generation with the
 * mapping of its classes now, then switches the alias. When a class change cannot be applied to
 * the live mapping, the projection records a request and the scheduled reconciliation starts this
 * workflow (id `search-reindex-<alias>`); searches keep answering from the old generation until the
 * switch, and the projection writes to both meanwhile.
 */
import { defineQuery, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import type { SearchActivities } from '../activities/search';
import type { CopyPage, GenerationPlan } from '../contracts/search';

const a = proxyActivities<SearchActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

export interface ReindexSearchInput {
  db: string;
  page_size?: number;
  /** Pause between the switch and the catch-up pass: writers that looked up the indices before the new generation existed finish meanwhile. */
  settle_ms?: number;
}

export type ReindexPhase = 'PREPARING' | 'COPYING' | 'SWITCHING' | 'CATCHING_UP' | 'CLEANING' | 'COMPLETED' | 'NOTHING_TO_DO';

export interface ReindexProgress {
  phase: ReindexPhase;
  db: string;
  source?: string;
  target?: string;
  /** Documents in the live index when the copy began. */
  total: number;
  copied: number;
}

export interface ReindexSearchResult extends ReindexProgress {
  dropped: string[];
}

export const reindexProgressQuery = defineQuery<ReindexProgress>('reindexProgress');

/** One reindex at a time per database: the id is made of the database's alias (unique per index prefix). */
export const reindexWorkflowId = (alias: string): string => `search-reindex-${alias}`;

async function copyAll(plan: GenerationPlan, pageSize: number, progress: ReindexProgress): Promise<void> {
  for (let after: string | null = null; ;) {
    const page: CopyPage = await a.searchCopyPage({ plan, after, size: pageSize });
    progress.copied += page.copied;
    if (page.next === null) return;
    after = page.next;
  }
}

export async function reindexSearch(input: ReindexSearchInput): Promise<ReindexSearchResult> {
  const progress: ReindexProgress = { phase: 'PREPARING', db: input.db, total: 0, copied: 0 };
  setHandler(reindexProgressQuery, () => progress);
  const plan = await a.searchBeginGeneration({ db: input.db });
  if (plan === null) {
    progress.phase = 'NOTHING_TO_DO';
    return { ...progress, dropped: [] };
  }
  Object.assign(progress, { source: plan.source, target: plan.target, total: plan.total, phase: 'COPYING' });
  await copyAll(plan, input.page_size ?? 1000, progress);
  progress.phase = 'SWITCHING';
  await a.searchSwitch({ plan });
  progress.phase = 'CATCHING_UP';
  await sleep(input.settle_ms ?? 5000);
  await copyAll(plan, input.page_size ?? 1000, progress);
  progress.phase = 'CLEANING';
  const dropped = await a.searchDropOlder({ plan, started_at: plan.started_at });
  progress.phase = 'COMPLETED';
  return { ...progress, dropped };
}

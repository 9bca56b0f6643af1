/**
 * rebuildReadModels: replays the whole event store into a fresh read-model schema and compares the
 * result with the live one. Long replays continue as new so the history stays small.
 */
import { continueAsNew, defineQuery, proxyActivities, setHandler } from '@temporalio/workflow';
import type { RebuildActivities } from '../activities/rebuild';
import type { SearchActivities } from '../activities/search';
import type { GenerationPlan, IndexComparison } from '../contracts/search';

const { rebuildChunk, compareWithLive } = proxyActivities<RebuildActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

const search = proxyActivities<SearchActivities>({
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

export interface RebuildInput {
  target_schema: string;
  /**
   * Rebuild the search index too: every database's events go into a new index generation, which
   * is compared with the live one (documents and versions) and then takes the alias: when equal
   * ('if_equal', the default), or in any case ('always', to repair a live index that differs).
   */
  search?: { switch?: 'if_equal' | 'always' };
  /** The new generations of an earlier run (before continue-as-new). */
  search_plans?: GenerationPlan[];
  chunk_size?: number;
  /** Where an earlier run (before continue-as-new) stopped. */
  checkpoint?: string;
  events_so_far?: number;
  set_aside_so_far?: Record<string, number>;
}

export interface RebuildOutcome {
  target_schema: string;
  events: number;
  equal: boolean;
  /** Events the rebuild left behind, as the live models did (a stream stops at such an event), by "stage:code". */
  set_aside: number;
  set_aside_by: Record<string, number>;
  differences: { table: string; missing_in_live: number; missing_in_rebuild: number; different: number }[];
  /** Per database, the rebuilt search index against the live one, and whether the alias moved to it. */
  search?: Array<IndexComparison & { switched: boolean }>;
}

export const rebuildProgressQuery = defineQuery<{ events: number; checkpoint?: string }>('rebuildProgress');

const CHUNKS_PER_RUN = 200;

export async function rebuildReadModels(input: RebuildInput): Promise<RebuildOutcome> {
  let checkpoint = input.checkpoint;
  let events = input.events_so_far ?? 0;
  const setAsideBy: Record<string, number> = { ...input.set_aside_so_far };
  setHandler(rebuildProgressQuery, () => ({ events, checkpoint }));
  const plans = input.search_plans ?? (input.search ? await search.searchBeginAllGenerations() : []);
  const searchTargets = plans.length ? { search_targets: plans.map((p) => p.target) } : {};

  for (let i = 0; i < CHUNKS_PER_RUN; i++) {
    const r = await rebuildChunk({ target_schema: input.target_schema, from: checkpoint, limit: input.chunk_size ?? 500, ...searchTargets });
    checkpoint = r.checkpoint;
    events += r.events;
    // A chunk of an earlier release returns no tally.
    for (const [k, n] of Object.entries(r.set_aside_by ?? {})) setAsideBy[k] = (setAsideBy[k] ?? 0) + n;
    if (!r.has_more) {
      const cmp = await compareWithLive({ target_schema: input.target_schema });
      const searchOutcome = plans.length ? { search: await finishSearch(plans, input.search?.switch ?? 'if_equal') } : {};
      return {
        ...searchOutcome,
        target_schema: input.target_schema,
        events,
        equal: cmp.equal,
        set_aside: Object.values(setAsideBy).reduce((a, b) => a + b, 0),
        set_aside_by: setAsideBy,
        differences: cmp.tables
          .filter((t) => t.missing_in_a + t.missing_in_b + t.different > 0)
          .map((t) => ({ table: t.table, missing_in_live: t.missing_in_a, missing_in_rebuild: t.missing_in_b, different: t.different })),
      };
    }
  }
  return continueAsNew<typeof rebuildReadModels>({ ...input, checkpoint, events_so_far: events, set_aside_so_far: setAsideBy, ...(plans.length ? { search_plans: plans } : {}) });
}

async function finishSearch(plans: GenerationPlan[], mode: 'if_equal' | 'always'): Promise<Array<IndexComparison & { switched: boolean }>> {
  const out: Array<IndexComparison & { switched: boolean }> = [];
  for (const plan of plans) {
    const cmp = await search.searchCompare({ plan });
    const switched = cmp.equal || mode === 'always';
    if (switched) {
      await search.searchSwitch({ plan });
      await search.searchDropOlder({ plan });
    } else {
      await search.searchAbandon({ plan });
    }
    out.push({ ...cmp, switched });
  }
  return out;
}

/**
 * rebuildReadModels: replays the whole event store into a fresh read-model schema and compares the
 * result with the live one. Long replays continue as new so the history stays small. With
 * `switch` it is a blue/green rebuild: the new schema catches up with the live tail, then takes
 * the live name in one transaction, and the old one is dropped after a grace period.
 */
import { continueAsNew, defineQuery, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import type { RebuildActivities } from '../activities/rebuild';
import type { SearchActivities } from '../activities/search';
import type { GenerationPlan, IndexComparison } from '../contracts/search';

const { rebuildChunk, compareWithLive, catchUpWithLive, switchToRebuilt, dropRetired } = proxyActivities<RebuildActivities>({
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
  /**
   * Blue/green: the rebuilt schema replaces the live read models (readers keep answering throughout): when equal to them
   * ('if_equal'), or in any case ('always': a projection that changed on purpose). The old schema is kept `grace_seconds`
   * (default 600) under `<target>_retired`, for readers in flight, then dropped.
   */
  switch?: { mode?: 'if_equal' | 'always'; grace_seconds?: number };
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
  /** With `switch`: whether the rebuilt schema is now the live one, and the streams it caught up with the live tail. */
  switched?: boolean;
  retired_schema?: string;
  caught_up?: { streams: number; events: number };
}

export const rebuildProgressQuery = defineQuery<{ events: number; checkpoint?: string; phase?: RebuildPhase }>('rebuildProgress');

export type RebuildPhase = 'replaying' | 'catching_up' | 'switching' | 'grace' | 'done';

const CHUNKS_PER_RUN = 200;
/** Catch-up passes before the switch: each is shorter than the last while the live models take fewer new streams than it applies. */
const CATCH_UP_PASSES = 5;
/** Streams left behind after which the switch itself (live projections held back) applies the rest. */
const SWITCH_BEHIND = 50;

export async function rebuildReadModels(input: RebuildInput): Promise<RebuildOutcome> {
  let checkpoint = input.checkpoint;
  let events = input.events_so_far ?? 0;
  const setAsideBy: Record<string, number> = { ...input.set_aside_so_far };
  let phase: RebuildPhase = 'replaying';
  setHandler(rebuildProgressQuery, () => ({ events, checkpoint, phase }));
  const plans = input.search_plans ?? (input.search ? await search.searchBeginAllGenerations() : []);
  const searchTargets = plans.length ? { search_targets: plans.map((p) => p.target) } : {};

  for (let i = 0; i < CHUNKS_PER_RUN; i++) {
    const r = await rebuildChunk({ target_schema: input.target_schema, from: checkpoint, limit: input.chunk_size ?? 500, ...searchTargets });
    checkpoint = r.checkpoint;
    events += r.events;
    // A chunk of an earlier release returns no tally.
    for (const [k, n] of Object.entries(r.set_aside_by ?? {})) setAsideBy[k] = (setAsideBy[k] ?? 0) + n;
    if (!r.has_more) {
      let blueGreen: Pick<RebuildOutcome, 'switched' | 'retired_schema' | 'caught_up'> = {};
      let cmp: Awaited<ReturnType<typeof compareWithLive>>;
      if (input.switch) {
        phase = 'catching_up';
        const caught = { streams: 0, events: 0 };
        for (let pass = 0; pass < CATCH_UP_PASSES; pass++) {
          const c = await catchUpWithLive({ target_schema: input.target_schema });
          caught.streams += c.streams;
          caught.events += c.events;
          if (c.streams <= SWITCH_BEHIND) break;
        }
        phase = 'switching';
        const retired = `${input.target_schema}_retired`;
        const s = await switchToRebuilt({ target_schema: input.target_schema, retired_schema: retired, require_equal: (input.switch.mode ?? 'if_equal') === 'if_equal' });
        caught.streams += s.streams;
        caught.events += s.events;
        // A retried switch that had committed compared before it did: equal or switched on purpose.
        cmp = s.comparison ?? { equal: true, tables: [] };
        blueGreen = { switched: s.switched, retired_schema: s.switched ? retired : undefined, caught_up: caught };
      } else {
        cmp = await compareWithLive({ target_schema: input.target_schema });
      }
      const searchOutcome = plans.length ? { search: await finishSearch(plans, input.search?.switch ?? 'if_equal') } : {};
      if (blueGreen.retired_schema) {
        phase = 'grace';
        await sleep((input.switch?.grace_seconds ?? 600) * 1000);
        await dropRetired({ schema: blueGreen.retired_schema });
      }
      phase = 'done';
      return {
        ...searchOutcome,
        ...blueGreen,
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

/**
 * rebuildReadModels: replays the whole event store into a fresh read-model schema and compares the
 * result with the live one. Long replays continue as new so the history stays small.
 */
import { continueAsNew, defineQuery, proxyActivities, setHandler } from '@temporalio/workflow';
import type { RebuildActivities } from '../activities/rebuild';

const { rebuildChunk, compareWithLive } = proxyActivities<RebuildActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

export interface RebuildInput {
  target_schema: string;
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
}

export const rebuildProgressQuery = defineQuery<{ events: number; checkpoint?: string }>('rebuildProgress');

const CHUNKS_PER_RUN = 200;

export async function rebuildReadModels(input: RebuildInput): Promise<RebuildOutcome> {
  let checkpoint = input.checkpoint;
  let events = input.events_so_far ?? 0;
  const setAsideBy: Record<string, number> = { ...input.set_aside_so_far };
  setHandler(rebuildProgressQuery, () => ({ events, checkpoint }));

  for (let i = 0; i < CHUNKS_PER_RUN; i++) {
    const r = await rebuildChunk({ target_schema: input.target_schema, from: checkpoint, limit: input.chunk_size ?? 500 });
    checkpoint = r.checkpoint;
    events += r.events;
    // A chunk of an earlier release returns no tally.
    for (const [k, n] of Object.entries(r.set_aside_by ?? {})) setAsideBy[k] = (setAsideBy[k] ?? 0) + n;
    if (!r.has_more) {
      const cmp = await compareWithLive({ target_schema: input.target_schema });
      return {
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
  return continueAsNew<typeof rebuildReadModels>({ ...input, checkpoint, events_so_far: events, set_aside_so_far: setAsideBy });
}

/**
 * Activities of the read-model rebuild: replay the event store (readAll, in time order) into a
 * fresh schema chunk by chunk, then compare it with the live read models.
 */
import type { Pool } from 'pg';
import { Context } from '@temporalio/activity';
import type { EventStore } from '../adapters/event-store';
import type { EventHistory } from '../api/ports';
import { ReadModelProjector, compareReadModels, migrateReadModels } from '../adapters/read-models';
import type { ReadModelComparison } from '../adapters/read-models';
import { StreamsNotProjectedError } from '../adapters/read-model-projector';
import { SetAsideTally } from './failure-metrics';
import { withFailureMapping } from './failures';

export interface RebuildDeps {
  pool: Pool;
  eventStore: EventStore;
  history: EventHistory;
  liveSchema: string;
}

export interface RebuildChunkResult {
  checkpoint?: string;
  events: number;
  has_more: boolean;
}

export function createRebuildActivities(d: RebuildDeps) {
  return withFailureMapping({
    async rebuildChunk(a: { target_schema: string; from?: string; limit: number }): Promise<RebuildChunkResult> {
      if (a.target_schema === d.liveSchema) throw new Error('the rebuild target must not be the live read-model schema');
      await migrateReadModels(d.pool, a.target_schema);
      const page = await d.eventStore.readAll({ from: a.from, limit: a.limit });
      // Idempotent by stream version: a retried chunk skips what it already applied.
      try {
        await new ReadModelProjector(d.pool, a.target_schema, { history: d.history }).apply(page.events.map((e) => e.envelope));
      } catch (err) {
        // The live models stop such a stream at the same event: the rebuild goes on without it, as they did.
        if (!(err instanceof StreamsNotProjectedError)) throw err;
        const tally = new SetAsideTally();
        for (const f of err.failures) tally.add('project', f.code);
      }
      Context.current().heartbeat(page.checkpoint);
      return { checkpoint: page.checkpoint, events: page.events.length, has_more: page.hasMore };
    },

    async compareWithLive(a: { target_schema: string }): Promise<ReadModelComparison> {
      return compareReadModels(d.pool, d.liveSchema, a.target_schema);
    },
  });
}

export type RebuildActivities = ReturnType<typeof createRebuildActivities>;

/**
 * Activities of the read-model rebuild: replay the event store (readAll, in time order) into a
 * fresh schema chunk by chunk, then compare it with the live read models.
 */
import { Context } from '@temporalio/activity';
import type { EventStore } from '../ports/event-store';
import type { CatchUpResult, ReadModelComparison, ReadModelRebuild, SwitchResult } from '../ports/read-model-rebuild';
import type { SearchProjector } from '../ports/search';
import type { PersonalDataCipher } from '../ports/personal-data';
import type { Registry } from 'prom-client';
import { projectionSetAside, SetAsideTally, setAsideCounter } from './failure-metrics';
import { activityLog, withFailureMapping } from './failures';

export interface RebuildDeps {
  eventStore: EventStore;
  readModels: ReadModelRebuild;
  liveSchema: string;
  /** Opens sealed personal values (erased for forgotten subjects) before they are projected. */
  personalData?: Pick<PersonalDataCipher, 'open'>;
  /** A search projector that writes into these new index generations only (absent without a search engine). */
  searchProjectorFor?: (targets: readonly string[]) => Pick<SearchProjector, 'apply'>;
  /** Where spice_events_set_aside_total is registered (prom-client's default registry otherwise). */
  registry?: Registry;
}

export interface RebuildChunkResult {
  checkpoint?: string;
  events: number;
  has_more: boolean;
  /** Events of this chunk the projection left behind (a stream stops at such an event), also in spice_events_set_aside_total. */
  set_aside: number;
  /** The same by "stage:code", e.g. {"project:INVALID_EVENT": 1}. */
  set_aside_by: Record<string, number>;
}

export function createRebuildActivities(d: RebuildDeps) {
  const counter = setAsideCounter(d.registry);
  return withFailureMapping({
    async rebuildChunk(a: { target_schema: string; from?: string; limit: number; search_targets?: string[] }): Promise<RebuildChunkResult> {
      if (a.target_schema === d.liveSchema) throw new Error('the rebuild target must not be the live read-model schema');
      await d.readModels.prepare(a.target_schema);
      const page = await d.eventStore.readAll({ from: a.from, limit: a.limit });
      const stored = page.events.map((e) => e.envelope);
      const events = d.personalData ? await d.personalData.open(stored) : stored;
      const tally = new SetAsideTally(counter);
      // Idempotent by stream version: a retried chunk skips what it already applied.
      try {
        await d.readModels.projectorFor(a.target_schema).apply(events);
      } catch (err) {
        // The live models stop such a stream at the same event: the rebuild goes on without it, as they did.
        const left = projectionSetAside(err, events);
        if (left === undefined) throw err;
        for (const f of left) tally.add('project', f.code, [f.event_id]);
        activityLog('rebuild: streams not projected', {
          target_schema: a.target_schema,
          streams: left.slice(0, 20).map((f) => ({ aggregate_type: f.aggregate_type, aggregate_id: f.aggregate_id, version: f.aggregate_version, event_id: f.event_id, code: f.code })),
        });
      }
      if (a.search_targets?.length) {
        if (d.searchProjectorFor === undefined) throw new Error('a search rebuild needs the search engine (SEARCH_ENGINE=opensearch)');
        await d.searchProjectorFor(a.search_targets).apply(events);
      }
      Context.current().heartbeat(page.checkpoint);
      return { checkpoint: page.checkpoint, events: events.length, has_more: page.hasMore, set_aside: tally.total, set_aside_by: tally.toJSON() };
    },

    async compareWithLive(a: { target_schema: string }): Promise<ReadModelComparison> {
      return d.readModels.compareWithLive(a.target_schema);
    },

    /** Blue/green: the streams the live models moved on while the rebuild ran, applied to the rebuild. */
    async catchUpWithLive(a: { target_schema: string }): Promise<CatchUpResult> {
      return d.readModels.catchUpWithLive(a.target_schema);
    },

    async switchToRebuilt(a: { target_schema: string; retired_schema: string; require_equal: boolean }): Promise<SwitchResult> {
      const r = await d.readModels.switchLive(a.target_schema, { retiredSchema: a.retired_schema, requireEqual: a.require_equal });
      activityLog('rebuild: blue/green switch', { target_schema: a.target_schema, live_schema: d.liveSchema, retired_schema: a.retired_schema, switched: r.switched, caught_up_streams: r.streams });
      return r;
    },

    async dropRetired(a: { schema: string }): Promise<void> {
      await d.readModels.drop(a.schema);
    },
  });
}

export type RebuildActivities = ReturnType<typeof createRebuildActivities>;

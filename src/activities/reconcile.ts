/**
 * Invariant 4, convergence: whatever reached S3 is recorded, delivered and projected, even if the
 * workflow that wrote it died (terminated, or its history lost). A scheduled run looks in three
 * places, each past a grace period left to the live workflows:
 *   - the event store's scan (S3's date index) from its checkpoint (one position per store
 *     family, see CurrentModeEventStore), rewound by an overlap window: the date index orders by occurred_at, which a bulk batch
 *     takes from its planning and a worker from its own clock, so an event can be committed behind
 *     a checkpoint already saved (the window is longer than the longest activity); entries whose
 *     event the ledger has are passed over without being read;
 *   - the ledger's rows still pending;
 *   - the ledger's rows the read models have not reached (their stream position is below the
 *     row's version), from a cursor of its own: an event delivered but never projected (its
 *     workflow terminated inside the projection) is found there.
 * It records, projects and publishes what it finds.
 *
 * One event that cannot be recorded, read, projected or relayed does not stop the run: it is set
 * aside (counted in spice_events_set_aside_total, logged with its id, listed in the result), the
 * other rows and streams go on, and the checkpoint moves. Only a failure of a service itself
 * (PostgreSQL, S3 or Kafka unreachable) fails the run, which Temporal retries.
 */
import { spiceMetrics } from '../contracts/metrics';
import type { Registry } from 'prom-client';
import { streamKey, type EventEnvelope, type StoredEvent } from '../contracts/event-envelope';
import { EventNotFoundError, EventStore } from '../ports/event-store';
import type { Ledger, LedgerRow } from '../ports/ledger';
import { EventNotRecordedError, PredecessorNotDelivered } from '../ports/relay';
import type { CheckpointStore } from '../ports/checkpoints';
import { StreamsNotProjectedError } from '../ports/projector';
import { projectionSetAside, SetAsideTally, setAsideCounter } from './failure-metrics';
import { activityLog, withFailureMapping } from './failures';

export interface ReconcileDeps {
  checkpoints: CheckpointStore;
  eventStore: EventStore;
  /**
   * Ledger rows after an opaque cursor (undefined: the start) that the read models have not reached,
   * and the cursor to continue from (DeliveryLedger.behindProjection).
   */
  behindProjection(cursor: string | undefined, o: { graceSeconds: number; limit: number }): Promise<{ rows: LedgerRow[]; next: string | undefined; scanned: number }>;
  ledger: Pick<Ledger, 'recordEach' | 'byEventIds' | 'undeliveredOlderThan'>;
  relay: { publishThrough(eventIds: string[]): Promise<unknown> };
  projector: { apply(events: EventEnvelope[]): Promise<{ dropped: number; applied: number }> };
  readEvent(ref: NonNullable<StoredEvent['s3']>): Promise<StoredEvent>;
  /** Where spice_events_set_aside_total is registered (prom-client's default registry otherwise). */
  registry?: Registry;
}

export interface ReconcileResult {
  scanned: number;
  recorded: number;
  redelivered: number;
  /** Recorded events the read models had not reached past the grace period (delivered, or refused by the projector before). */
  reprojected?: number;
  /** Streams this run left behind: an event of theirs was set aside. */
  blocked_streams?: number;
  /** Events this run could not record, relay, read or project (also counted in spice_events_set_aside_total). */
  set_aside: number;
  /** The same by "stage:code", e.g. {"record:EVENT_NOT_RECORDABLE": 1}. */
  set_aside_by: Record<string, number>;
  /** Events of a database life that is over: recorded and delivered like any other, never projected. */
  dropped: number;
  checkpoint?: string;
}

/** The event store's scan: the store of the mode in force keeps one position per store family in it (CurrentModeEventStore). */
const SCAN_CHECKPOINT = 'event-store-scan';
const PROJECTION_CHECKPOINT = 'projection-scan';
const REFUSED_CHECKPOINT = 'record-refused';
/**
 * Longer than the longest activity that appends (a bulk's claiming may run 30 minutes): how far
 * back each run looks again before its checkpoint for events committed behind it.
 */
export const DEFAULT_OVERLAP_SECONDS = 35 * 60;

export function createReconcileActivities(d: ReconcileDeps) {
  const counter = setAsideCounter(d.registry);

  return withFailureMapping({
    async reconcile(a: { grace_seconds: number; max_events: number; overlap_seconds?: number }): Promise<ReconcileResult> {
      const tally = new SetAsideTally(counter);
      const metrics = spiceMetrics(d.registry);
      // Events the ledger refused are remembered for as long as the overlap window can meet them again,
      // so a run counts and tries each once, like the runs before the window existed.
      const overlapMs = (a.overlap_seconds ?? DEFAULT_OVERLAP_SECONDS) * 1000;
      const refused = new Map<string, number>(Object.entries(JSON.parse((await d.checkpoints.load(REFUSED_CHECKPOINT)) ?? '{}') as Record<string, number>));
      const known = async (ids: string[]) => new Set([...(await d.ledger.byEventIds(ids)).map((r) => r.eventId), ...ids.filter((id) => refused.has(id))]);
      // 1. S3 -> ledger: events stored but never recorded. Events younger than the grace period
      //    are left to their own workflows (settleMs keeps the checkpoint behind them).
      const saved = await d.checkpoints.load(SCAN_CHECKPOINT);
      let checkpoint = saved;
      let scanned = 0;
      const found: StoredEvent[] = [];
      let first = true;
      while (scanned < a.max_events) {
        const page = await d.eventStore.readAll({
          from: checkpoint,
          limit: Math.min(500, a.max_events - scanned),
          settleMs: a.grace_seconds * 1000,
          // Only the first page goes back: the rest continue from where the rewound one ended.
          rewindMs: first ? overlapMs : 0,
          known,
        });
        scanned += page.events.length;
        if (page.events.length) {
          const recorded = await known(page.events.map((e) => e.envelope.event_id));
          found.push(...page.events.filter((e) => !recorded.has(e.envelope.event_id)));
        }
        const stuck = !first && page.checkpoint === checkpoint;
        checkpoint = page.checkpoint ?? checkpoint;
        first = false;
        if (!page.hasMore || stuck) break;
      }
      // An event the ledger refuses is counted and left behind, not retried by every later run:
      // the checkpoint moves past it like past the others.
      const { failed } = found.length ? await d.ledger.recordEach(found.map((e) => ({ envelope: e.envelope, s3: e.s3 ?? null }))) : { failed: [] };
      for (const f of failed) tally.add('record', f.code, [f.eventId]);
      const now = Date.now();
      for (const f of failed) refused.set(f.eventId, now);
      for (const [id, at] of refused) if (at < now - 2 * overlapMs) refused.delete(id);
      if (failed.length || refused.size) await d.checkpoints.save(REFUSED_CHECKPOINT, JSON.stringify(Object.fromEntries(refused)));
      if (failed.length) activityLog('events not recorded', { codes: failed.map((f) => f.code), event_ids: failed.slice(0, 20).map((f) => f.eventId) });
      const unrecorded = new Set(failed.map((f) => f.eventId));

      // 2. ledger -> read models and Kafka: what was just recorded, rows still pending after the
      //    grace period, and rows the read models never reached. Projected first: a row is
      //    delivered only after its projection was tried, so a run that dies in between leaves it
      //    pending and the next run projects it again.
      const foundIds = new Set(found.map((e) => e.envelope.event_id));
      const pending = (await d.ledger.undeliveredOlderThan(a.grace_seconds, a.max_events)).filter((r) => !foundIds.has(r.eventId));
      const pendingIds = new Set(pending.map((r) => r.eventId));
      const savedCursor = await d.checkpoints.load(PROJECTION_CHECKPOINT);
      const behind = await d.behindProjection(savedCursor, { graceSeconds: a.grace_seconds, limit: a.max_events });
      const unprojected = behind.rows.filter((r) => !foundIds.has(r.eventId) && !pendingIds.has(r.eventId));
      // An event the ledger refused never reaches Kafka, so the read models must not show it either,
      // nor its stream's later events (the relay holds them back behind it).
      const envelopes = [
        ...withoutRefused(
          found.map((e) => e.envelope),
          unrecorded,
        ),
        ...(await readRows([...pending, ...unprojected], tally)),
      ];
      let dropped = 0;
      let projected = 0;
      if (envelopes.length) {
        // Projection is idempotent by stream version: re-applying what a live workflow applied is a no-op.
        try {
          ({ dropped, applied: projected } = await d.projector.apply(envelopes));
        } catch (err) {
          const left = projectionSetAside(err, envelopes);
          if (left === undefined) throw err;
          if (err instanceof StreamsNotProjectedError) ({ dropped, applied: projected } = err.result);
          for (const f of left) tally.add('project', f.code, [f.event_id]);
          activityLog('streams not projected', {
            streams: left.slice(0, 20).map((f) => ({ aggregate_type: f.aggregate_type, aggregate_id: f.aggregate_id, version: f.aggregate_version, code: f.code })),
          });
        }
      }
      const ids = [...found.filter((e) => !unrecorded.has(e.envelope.event_id)).map((e) => e.envelope.event_id), ...pending.map((r) => r.eventId)];
      if (ids.length) {
        try {
          await d.relay.publishThrough(ids);
        } catch (err) {
          // The relay published every other stream before it threw for these.
          if (err instanceof PredecessorNotDelivered) tally.add('relay', err.code, err.blocked);
          else if (err instanceof EventNotRecordedError) tally.add('relay', err.code, err.eventIds);
          else throw err;
          activityLog('events not relayed', { code: err.code });
        }
      }
      if (checkpoint !== undefined && checkpoint !== saved) await d.checkpoints.save(SCAN_CHECKPOINT, checkpoint);
      if (behind.next !== undefined && behind.next !== savedCursor) await d.checkpoints.save(PROJECTION_CHECKPOINT, behind.next);

      // Repairs: what this run found behind and did itself (an event the read models already had is no repair).
      metrics.reconcileFound.inc({ kind: 'unrecorded' }, found.length);
      metrics.reconcileFound.inc({ kind: 'undelivered' }, pending.length);
      metrics.reconcileFound.inc({ kind: 'unprojected' }, unprojected.length);
      metrics.reconcileRepairs.inc({ kind: 'recorded' }, found.length - failed.length);
      metrics.reconcileRepairs.inc({ kind: 'delivered' }, pending.length);
      metrics.reconcileRepairs.inc({ kind: 'projected' }, projected);
      const times = [...found.map((e) => Date.parse(e.envelope.occurred_at)), ...[...pending, ...unprojected].map((r) => new Date(r.createdAt).getTime())].filter(Number.isFinite);
      metrics.reconcileOldestPendingAge.set(times.length ? Math.max(0, (Date.now() - Math.min(...times)) / 1000) : 0);
      const streamOf = new Map<string, string>([
        ...found.map((e): [string, string] => [e.envelope.event_id, streamKey(e.envelope.aggregate_type, e.envelope.aggregate_id)]),
        ...[...pending, ...unprojected].map((r): [string, string] => [r.eventId, streamKey(r.aggregateType, r.aggregateId)]),
      ]);
      const blocked = new Set([...tally.eventIds].map((id) => streamOf.get(id) ?? id));
      metrics.reconcileBlockedStreams.set(blocked.size);
      return {
        scanned,
        recorded: found.length - failed.length,
        redelivered: pending.length,
        reprojected: unprojected.length,
        blocked_streams: blocked.size,
        set_aside: tally.total,
        set_aside_by: tally.toJSON(),
        dropped,
        checkpoint,
      };
    },
  });

  /** The bodies of ledger rows; a row whose event cannot be read is counted and left for a later run. */
  async function readRows(rows: LedgerRow[], tally: SetAsideTally): Promise<EventEnvelope[]> {
    const read = await Promise.all(
      rows.map(async (r) => {
        if (!r.s3Reference) return r.payload as EventEnvelope;
        try {
          return (await d.readEvent(r.s3Reference)).envelope;
        } catch (err) {
          if (!(err instanceof EventNotFoundError)) throw err;
          tally.add('read', err.code, [r.eventId]);
          return undefined;
        }
      }),
    );
    return read.filter((e): e is EventEnvelope => e !== undefined);
  }
}

/** The events with none of the refused ones at or before them on their stream. */
function withoutRefused(events: EventEnvelope[], refused: ReadonlySet<string>): EventEnvelope[] {
  if (refused.size === 0) return events;
  const streamOf = (e: EventEnvelope) => streamKey(e.aggregate_type, e.aggregate_id);
  const firstRefused = new Map<string, number>();
  for (const e of events) {
    if (!refused.has(e.event_id)) continue;
    const key = streamOf(e);
    firstRefused.set(key, Math.min(firstRefused.get(key) ?? Infinity, e.aggregate_version));
  }
  return events.filter((e) => e.aggregate_version < (firstRefused.get(streamOf(e)) ?? Infinity));
}

export type ReconcileActivities = ReturnType<typeof createReconcileActivities>;

/**
 * Invariant 4, convergence: whatever reached S3 is recorded, delivered and projected, even if the
 * workflow that wrote it died (terminated, or its history lost). A scheduled run scans the event
 * store's date index from a stored checkpoint for events without a ledger row, and the ledger for
 * rows still pending after a grace period; it records, projects and publishes what it finds.
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
  /** Events this run could not record, relay, read or project (also counted in spice_events_set_aside_total). */
  set_aside: number;
  /** The same by "stage:code", e.g. {"record:EVENT_NOT_RECORDABLE": 1}. */
  set_aside_by: Record<string, number>;
  /** Events of a database life that is over: recorded and delivered like any other, never projected. */
  dropped: number;
  checkpoint?: string;
}

const CHECKPOINT = 'event-store-scan';

export function createReconcileActivities(d: ReconcileDeps) {
  const counter = setAsideCounter(d.registry);

  async function loadCheckpoint(): Promise<string | undefined> {
    return d.checkpoints.load(CHECKPOINT);
  }

  async function saveCheckpoint(checkpoint: string | undefined): Promise<void> {
    if (checkpoint === undefined) return;
    await d.checkpoints.save(CHECKPOINT, checkpoint);
  }

  return withFailureMapping({
    async reconcile(a: { grace_seconds: number; max_events: number }): Promise<ReconcileResult> {
      const tally = new SetAsideTally(counter);
      // 1. S3 -> ledger: events stored but never recorded. Events younger than the grace period
      //    are left to their own workflows (settleMs keeps the checkpoint behind them).
      let checkpoint = await loadCheckpoint();
      let scanned = 0;
      const found: StoredEvent[] = [];
      while (scanned < a.max_events) {
        const page = await d.eventStore.readAll({ from: checkpoint, limit: Math.min(500, a.max_events - scanned), settleMs: a.grace_seconds * 1000 });
        scanned += page.events.length;
        if (page.events.length) {
          const known = new Set((await d.ledger.byEventIds(page.events.map((e) => e.envelope.event_id))).map((r) => r.eventId));
          found.push(...page.events.filter((e) => !known.has(e.envelope.event_id)));
        }
        checkpoint = page.checkpoint ?? checkpoint;
        if (!page.hasMore) break;
      }
      // An event the ledger refuses is counted and left behind, not retried by every later run:
      // the checkpoint moves past it like past the others.
      const { failed } = found.length ? await d.ledger.recordEach(found.map((e) => ({ envelope: e.envelope, s3: e.s3 ?? null }))) : { failed: [] };
      for (const f of failed) tally.add('record', f.code, [f.eventId]);
      if (failed.length) activityLog('events not recorded', { codes: failed.map((f) => f.code), event_ids: failed.slice(0, 20).map((f) => f.eventId) });
      const unrecorded = new Set(failed.map((f) => f.eventId));

      // 2. ledger -> read models and Kafka: what was just recorded, and rows still pending after the
      //    grace period. Projected first: a row is delivered only after its projection was tried, so
      //    a run that dies in between leaves it pending and the next run projects it again.
      const foundIds = new Set(found.map((e) => e.envelope.event_id));
      const pending = (await d.ledger.undeliveredOlderThan(a.grace_seconds, a.max_events)).filter((r) => !foundIds.has(r.eventId));
      // An event the ledger refused never reaches Kafka, so the read models must not show it either,
      // nor its stream's later events (the relay holds them back behind it).
      const envelopes = [
        ...withoutRefused(
          found.map((e) => e.envelope),
          unrecorded,
        ),
        ...(await readPending(pending, tally)),
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
          if (err instanceof StreamsNotProjectedError) dropped = err.result.dropped;
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
      await saveCheckpoint(checkpoint);
      // Repairs: what this run found behind and did itself (an event the read models already had is no repair).
      const repairs = spiceMetrics().reconcileRepairs;
      repairs.inc({ kind: 'recorded' }, found.length - failed.length);
      repairs.inc({ kind: 'delivered' }, pending.length);
      repairs.inc({ kind: 'projected' }, projected);
      return { scanned, recorded: found.length - failed.length, redelivered: pending.length, set_aside: tally.total, set_aside_by: tally.toJSON(), dropped, checkpoint };
    },
  });

  /** The bodies of pending rows; a row whose event cannot be read is counted and left for a later run. */
  async function readPending(pending: LedgerRow[], tally: SetAsideTally): Promise<EventEnvelope[]> {
    const read = await Promise.all(
      pending.map(async (r) => {
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

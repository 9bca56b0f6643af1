/**
 * Invariant 4, convergence: whatever reached S3 is recorded, delivered and projected, even if the
 * workflow that wrote it died (terminated, or its history lost). A scheduled run scans the event
 * store's date index from a stored checkpoint for events without a ledger row, and the ledger for
 * rows still pending after a grace period; it records, publishes and projects what it finds.
 */
import type { Pool } from 'pg';
import type { EventEnvelope, StoredEvent } from '../adapters/event-envelope';
import type { EventStore } from '../adapters/event-store';
import type { DeliveryLedger } from '../adapters/ledger';
import { quoteIdent } from '../adapters/postgres';

export interface ReconcileDeps {
  pool: Pool;
  schema: string;
  eventStore: EventStore;
  ledger: DeliveryLedger;
  relay: { publishThrough(eventIds: string[]): Promise<unknown> };
  projector: { apply(events: EventEnvelope[]): Promise<unknown> };
  readEvent(ref: NonNullable<StoredEvent['s3']>): Promise<StoredEvent>;
}

export interface ReconcileResult {
  scanned: number;
  recorded: number;
  redelivered: number;
  checkpoint?: string;
}

const CHECKPOINT = 'event-store-scan';

export function createReconcileActivities(d: ReconcileDeps) {
  const table = `${quoteIdent(d.schema)}.reconciler_checkpoints`;

  async function loadCheckpoint(): Promise<string | undefined> {
    const r = await d.pool.query(`SELECT checkpoint FROM ${table} WHERE name = $1`, [CHECKPOINT]);
    return r.rows[0]?.checkpoint ?? undefined;
  }

  async function saveCheckpoint(checkpoint: string | undefined): Promise<void> {
    if (checkpoint === undefined) return;
    await d.pool.query(
      `INSERT INTO ${table} (name, checkpoint) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET checkpoint = $2, updated_at = now()`,
      [CHECKPOINT, checkpoint],
    );
  }

  return {
    async reconcile(a: { grace_seconds: number; max_events: number }): Promise<ReconcileResult> {
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
      if (found.length) await d.ledger.record(found.map((e) => ({ envelope: e.envelope, s3: e.s3 ?? null })));

      // 2. ledger -> Kafka and read models: rows still pending after the grace period.
      const foundIds = new Set(found.map((e) => e.envelope.event_id));
      const pending = (await d.ledger.undeliveredOlderThan(a.grace_seconds, a.max_events)).filter((r) => !foundIds.has(r.eventId));
      const ids = [...new Set([...found.map((e) => e.envelope.event_id), ...pending.map((r) => r.eventId)])];
      if (ids.length) {
        await d.relay.publishThrough(ids);
        const envelopes = await Promise.all(
          pending.map(async (r) => (r.s3Reference ? (await d.readEvent(r.s3Reference)).envelope : (r.payload as EventEnvelope))),
        );
        // Projection is idempotent by stream version: re-applying what a live workflow applied is a no-op.
        await d.projector.apply([...found.map((e) => e.envelope), ...envelopes]);
      }
      await saveCheckpoint(checkpoint);
      return { scanned, recorded: found.length, redelivered: pending.length, checkpoint };
    },
  };
}

export type ReconcileActivities = ReturnType<typeof createReconcileActivities>;

/**
 * MigrationStores over the legacy table, the S3 store, the ledger (which names every stream any
 * mode wrote) and the stream locks. Counts what the backfill copies in spice_backfill_events_total.
 */
import type { Pool } from 'pg';
import type { EventStore, StreamId } from '../ports/event-store';
import type { MigrationStores, StoreName } from '../ports/migration';
import type { LegacyPgEventStore } from './postgres/legacy-event-store';
import type { S3EventStore } from './s3/s3-event-store';
import { streamKey } from '../contracts/event-envelope';
import { mapLimit } from '../lib/map-limit';
import { quoteIdent } from './postgres/postgres';
import { StoreCorruptedError } from '../ports/event-store';
import { copyTail, StreamLocker } from './stream-sync';
import { spiceMetrics } from '../contracts/metrics';

/** How often a backfill worker recounts the streams it has left (a scan of the rest of the table). */
const REMAINING_EVERY_MS = 30_000;

const distinct = (rows: { aggregate_type: string; aggregate_id: string }[]): StreamId[] => [
  ...new Map(rows.map((e) => [`${e.aggregate_type}\u0000${e.aggregate_id}`, { aggregate_type: e.aggregate_type, aggregate_id: e.aggregate_id }])).values(),
];

const keyOf = (x: StreamId) => `${x.aggregate_type}\u0000${x.aggregate_id}`;

export class PgS3MigrationStores implements MigrationStores {
  private readonly s: string;
  private remainingCountedAt = 0;

  constructor(private readonly o: { pool: Pool; schema: string; legacy: LegacyPgEventStore; s3: EventStore & Pick<S3EventStore, 'readStreamExpecting'>; locks: StreamLocker }) {
    this.s = quoteIdent(o.schema);
  }

  async countLegacyEvents(): Promise<number> {
    const { rows } = await this.o.pool.query(`SELECT count(*)::bigint AS n FROM ${this.s}.legacy_events WHERE NOT (metadata ? 'claimed_by')`);
    return Number(rows[0].n);
  }

  async countS3OnlyRows(afterPosition: number): Promise<number> {
    const { rows } = await this.o.pool.query(`SELECT count(*)::bigint AS n FROM ${this.s}.delivery_ledger WHERE storage_mode = 's3_only' AND position > $1`, [afterPosition]);
    return Number(rows[0].n);
  }

  async legacyPage(from: string | undefined, limit: number) {
    const page = await this.o.legacy.readAll({ from, limit });
    const metrics = spiceMetrics();
    metrics.backfillLastProgress.set(Date.now() / 1000);
    if (!page.hasMore) metrics.backfillStreamsRemaining.set(0);
    else if (Date.now() - this.remainingCountedAt >= REMAINING_EVERY_MS) {
      this.remainingCountedAt = Date.now();
      metrics.backfillStreamsRemaining.set(await this.o.legacy.streamsAfter(from));
    }
    return { streams: distinct(page.events.map((e) => e.envelope)), scanned: page.events.length, checkpoint: page.checkpoint, hasMore: page.hasMore };
  }

  async s3OnlyPage(afterPosition: number, limit: number) {
    const { rows } = await this.o.pool.query(
      `SELECT position, aggregate_type, aggregate_id FROM ${this.s}.delivery_ledger WHERE storage_mode = 's3_only' AND position > $1 ORDER BY position LIMIT $2`,
      [afterPosition, limit],
    );
    return { streams: distinct(rows), scanned: rows.length, position: rows.length ? Number(rows[rows.length - 1].position) : afterPosition, hasMore: rows.length === limit };
  }

  async streamsPage(after: [string, string] | undefined, limit: number) {
    const [type, id] = after ?? ['', ''];
    // Each list is read through its (type, id, version) index and stops at `limit` streams.
    const page = async (table: string, extra = '') =>
      (
        await this.o.pool.query(
          `SELECT DISTINCT aggregate_type, aggregate_id FROM ${this.s}.${table}
           WHERE (aggregate_type, aggregate_id) > ($1, $2) ${extra} ORDER BY aggregate_type, aggregate_id LIMIT $3`,
          [type, id, limit],
        )
      ).rows as StreamId[];
    const [legacy, ledger] = await Promise.all([page('legacy_events'), page('delivery_ledger', `AND event_type <> 'INSTANCE_CLAIM'`)]);
    const merged = distinct([...legacy, ...ledger]).sort((x, y) => (keyOf(x) < keyOf(y) ? -1 : keyOf(x) > keyOf(y) ? 1 : 0));
    // A full list ends where the other may still hold smaller keys: the page ends at the smaller end.
    const ends = [legacy, ledger]
      .filter((l) => l.length === limit)
      .map((l) => keyOf(l[l.length - 1]))
      .sort();
    return ends.length ? { streams: merged.filter((x) => keyOf(x) <= ends[0]), hasMore: true } : { streams: merged, hasMore: false };
  }

  async copyStream(from: StoreName, stream: StreamId): Promise<number> {
    const [source, target] = from === 'legacy' ? [this.o.legacy, this.o.s3] : [this.o.s3, this.o.legacy];
    if (from !== 'legacy') return this.o.locks.run(stream, () => copyTail(source, target, stream));
    const backfilled = spiceMetrics().backfillEvents;
    try {
      const n = await this.o.locks.run(stream, () => copyTail(source, target, stream));
      if (n > 0) backfilled.inc({ outcome: 'copied' }, n);
      return n;
    } catch (err) {
      if (err instanceof StoreCorruptedError) backfilled.inc({ outcome: 'mismatch' });
      throw err;
    }
  }

  async readBoth(streams: StreamId[], concurrency: number) {
    const legacy = await this.o.legacy.readStreams(streams);
    return mapLimit(streams, concurrency, async (stream) => {
      const l = legacy.get(streamKey(stream.aggregate_type, stream.aggregate_id)) ?? [];
      return {
        legacy: l,
        s3: await this.o.s3.readStreamExpecting(
          stream,
          l.map((e) => e.envelope),
        ),
      };
    });
  }
}

/**
 * The delivery ledger (transactional outbox): one row per stored event, with its global position,
 * its Kafka message payload and its delivery state. It never holds the source of truth of an event
 * (S3 does), only what is needed to deliver it and to show where it stands.
 */
import type { Pool } from 'pg';
import { currentPayload, ledgerPayloadOf } from '../../contracts/kafka-message';
import { DEFAULT_SCHEMA } from './migrations';
import {
  CLAIM_ROW_TYPE,
  EventNotRecordableError,
  LedgerStreamConflictError,
  type Delivery,
  type DeliveryStatus,
  type Ledger,
  type LedgerInput,
  type LedgerRow,
  type RecordFailure,
  type RecordResult,
} from '../../ports/ledger';
import { afterCursorSql, GlobalCursor, isDataError, isUniqueViolation, Queryable, quoteIdent } from './postgres';

export interface LedgerOptions {
  schema?: string;
  topic: string;
  /** Payloads whose Kafka message would exceed this are kept (and sent) as stubs. */
  maxMessageBytes: number;
}

/** A row plus the delivery status of its stream predecessor (null: no predecessor row recorded). */
export interface PublishRow extends LedgerRow {
  predecessorStatus: DeliveryStatus | null;
  /** Another publisher is sending it (its claim has not lapsed). */
  claimedElsewhere: boolean;
}

const COLUMNS = `position, transaction_id::text AS transaction_id, event_id, command_id, aggregate_type, aggregate_id,
  aggregate_version, event_type, topic, key, s3_reference, payload, storage_mode, status, attempts, last_error,
  created_at, updated_at, delivered_at, kafka_partition, kafka_offset`;

type DbRow = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- pg rows are untyped; columns are read by name

function toRow(r: DbRow): LedgerRow {
  return {
    position: Number(r.position),
    transactionId: r.transaction_id,
    eventId: r.event_id,
    commandId: r.command_id,
    aggregateType: r.aggregate_type,
    aggregateId: r.aggregate_id,
    aggregateVersion: r.aggregate_version,
    eventType: r.event_type,
    topic: r.topic,
    key: r.key,
    s3Reference: r.s3_reference,
    payload: currentPayload(r.payload),
    storageMode: r.storage_mode,
    status: r.status,
    attempts: r.attempts,
    lastError: r.last_error,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deliveredAt: r.delivered_at,
    kafkaPartition: r.kafka_partition,
    kafkaOffset: r.kafka_offset,
  };
}

export class DeliveryLedger implements Ledger {
  readonly schema: string;
  readonly table: string;
  readonly topic: string;
  readonly maxMessageBytes: number;

  constructor(
    readonly pool: Pool,
    options: LedgerOptions,
  ) {
    this.schema = options.schema ?? DEFAULT_SCHEMA;
    this.table = `${quoteIdent(this.schema)}.delivery_ledger`;
    this.topic = options.topic;
    this.maxMessageBytes = options.maxMessageBytes;
  }

  /**
   * Records events in one statement, in the given order (positions ascend with it). Recording an
   * event again is a no-op that returns the existing position. An event the ledger cannot take
   * does not hold back the others: they are recorded, then the call throws
   * LedgerStreamConflictError (a different event at a recorded stream version) or
   * EventNotRecordableError (content PostgreSQL refuses). recordEach() returns the same outcome
   * instead of throwing.
   */
  async record(inputs: LedgerInput[], db: Queryable = this.pool): Promise<RecordResult[]> {
    const { recorded, failed } = await this.recordEach(inputs, db);
    const conflicts = failed.filter((f) => f.code === 'LEDGER_STREAM_CONFLICT');
    if (conflicts.length)
      throw new LedgerStreamConflictError(
        conflicts.map((f) => f.eventId),
        conflicts[0].error,
      );
    if (failed.length)
      throw new EventNotRecordableError(
        failed.map((f) => f.eventId),
        failed[0].error,
      );
    return recorded;
  }

  /**
   * record(), with the events the ledger refuses listed instead of thrown. The batch is tried as
   * one statement; when the data of one event fails it, each event is recorded on its own. Inside a
   * caller's transaction (db is not the pool) a failed statement has aborted it, so the refusal is
   * reported for the whole batch.
   */
  async recordEach(inputs: LedgerInput[], db: Queryable = this.pool): Promise<{ recorded: RecordResult[]; failed: RecordFailure[] }> {
    const unique = [...new Map(inputs.map((i) => [i.envelope.event_id, i])).values()];
    try {
      return { recorded: await this.insert(unique, db), failed: [] };
    } catch (err) {
      const code = refusalCodeOf(err);
      if (code === undefined) throw err;
      if (unique.length === 1 || db !== this.pool) return { recorded: [], failed: unique.map((i) => ({ eventId: i.envelope.event_id, code, error: err })) };
    }
    const recorded: RecordResult[] = [];
    const failed: RecordFailure[] = [];
    for (const input of unique) {
      try {
        recorded.push(...(await this.insert([input], db)));
      } catch (err) {
        const code = refusalCodeOf(err);
        if (code === undefined) throw err;
        failed.push({ eventId: input.envelope.event_id, code, error: err });
      }
    }
    return { recorded, failed };
  }

  private async insert(unique: LedgerInput[], db: Queryable): Promise<RecordResult[]> {
    if (unique.length === 0) return [];
    const cols = {
      event_id: [] as string[],
      command_id: [] as string[],
      aggregate_type: [] as string[],
      aggregate_id: [] as string[],
      aggregate_version: [] as number[],
      event_type: [] as string[],
      topic: [] as string[],
      s3_reference: [] as (string | null)[],
      payload: [] as string[],
      storage_mode: [] as string[],
      status: [] as string[],
    };
    for (const { envelope: e, s3, topic, claim } of unique) {
      cols.event_id.push(e.event_id);
      cols.command_id.push(e.command_id);
      cols.aggregate_type.push(e.aggregate_type);
      cols.aggregate_id.push(e.aggregate_id);
      cols.aggregate_version.push(e.aggregate_version);
      cols.event_type.push(claim ? CLAIM_ROW_TYPE : e.event_type);
      cols.status.push(claim ? 'delivered' : 'pending');
      cols.topic.push(topic ?? this.topic);
      cols.s3_reference.push(s3 ? JSON.stringify(s3) : null);
      cols.payload.push(JSON.stringify(ledgerPayloadOf(e, s3 ?? null, this.maxMessageBytes)));
      cols.storage_mode.push(e.metadata.storage_mode);
    }
    const inserted: { event_id: string; position: string }[] = (
      await db.query(
        `INSERT INTO ${this.table} (event_id, command_id, aggregate_type, aggregate_id, aggregate_version, event_type,
           topic, key, s3_reference, payload, storage_mode, status)
         SELECT u.event_id, u.command_id, u.aggregate_type, u.aggregate_id, u.aggregate_version, u.event_type,
           u.topic, u.aggregate_id, u.s3_reference, u.payload, u.storage_mode, u.status
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::jsonb[], $9::jsonb[], $10::text[], $11::text[])
           WITH ORDINALITY AS u(event_id, command_id, aggregate_type, aggregate_id, aggregate_version, event_type, topic, s3_reference, payload, storage_mode, status, n)
         ORDER BY u.n
         ON CONFLICT (event_id) DO NOTHING
         RETURNING event_id, position`,
        [cols.event_id, cols.command_id, cols.aggregate_type, cols.aggregate_id, cols.aggregate_version, cols.event_type, cols.topic, cols.s3_reference, cols.payload, cols.storage_mode, cols.status],
      )
    ).rows;
    const positions = new Map(inserted.map((r) => [r.event_id, Number(r.position)]));
    const missing = cols.event_id.filter((id) => !positions.has(id));
    const existing = new Map<string, number>();
    if (missing.length) {
      const { rows } = await db.query(`SELECT event_id, position FROM ${this.table} WHERE event_id = ANY($1::text[])`, [missing]);
      for (const r of rows) existing.set(r.event_id, Number(r.position));
    }
    return cols.event_id.map((eventId) => {
      const p = positions.get(eventId);
      if (p !== undefined) return { eventId, position: p, inserted: true };
      return { eventId, position: existing.get(eventId) ?? NaN, inserted: false };
    });
  }

  async byEventIds(eventIds: string[], db: Queryable = this.pool): Promise<LedgerRow[]> {
    if (eventIds.length === 0) return [];
    const { rows } = await db.query(`SELECT ${COLUMNS} FROM ${this.table} WHERE event_id = ANY($1::text[]) ORDER BY position`, [eventIds]);
    return rows.map(toRow);
  }

  async byCommandId(commandId: string, db: Queryable = this.pool): Promise<LedgerRow[]> {
    const { rows } = await db.query(`SELECT ${COLUMNS} FROM ${this.table} WHERE command_id = $1 ORDER BY position`, [commandId]);
    return rows.map(toRow);
  }

  async byStream(aggregateType: string, aggregateId: string, db: Queryable = this.pool): Promise<LedgerRow[]> {
    const { rows } = await db.query(`SELECT ${COLUMNS} FROM ${this.table} WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY aggregate_version`, [aggregateType, aggregateId]);
    return rows.map(toRow);
  }

  /** Not yet delivered and older than the given age: what a reconciliation job should push again. */
  async undeliveredOlderThan(seconds: number, limit = 500, db: Queryable = this.pool): Promise<LedgerRow[]> {
    const { rows } = await db.query(
      `SELECT ${COLUMNS} FROM ${this.table}
       WHERE status <> 'delivered' AND created_at < now() - make_interval(secs => $1)
       ORDER BY position LIMIT $2`,
      [seconds, limit],
    );
    return rows.map(toRow);
  }

  /**
   * Rows after the cursor (in the order of readAfter, which never passes a transaction still in
   * flight) that the read models whose stream positions are in `positions` ("schema.stream_positions")
   * have not reached. The cursor stops before the first row younger than the grace period, whose
   * projection may still be on its way. Claim rows are passed over: their batch event projects them.
   */
  async behindProjection(
    cursor: GlobalCursor,
    o: { positions: string; graceSeconds: number; limit: number },
    db: Queryable = this.pool,
  ): Promise<{ rows: LedgerRow[]; next: GlobalCursor; scanned: number }> {
    const cols = COLUMNS.split(',')
      .map((c) => `l.${c.trim()}`)
      .join(', ');
    const { rows } = await db.query(
      `SELECT ${cols}, l.created_at < now() - make_interval(secs => $4) AS settled,
              l.event_type <> $5 AND COALESCE(p.version, 0) < l.aggregate_version AS behind
         FROM ${this.table} l
         LEFT JOIN ${o.positions} p ON p.aggregate_type = l.aggregate_type AND p.aggregate_id = l.aggregate_id
        WHERE ${afterCursorSql('l')}
        ORDER BY l.transaction_id, l.position LIMIT $3`,
      [cursor.transactionId, cursor.position, o.limit, o.graceSeconds, CLAIM_ROW_TYPE],
    );
    const behind: LedgerRow[] = [];
    let next = cursor;
    let scanned = 0;
    for (const r of rows) {
      if (!r.settled) break;
      const row = toRow(r);
      if (r.behind) behind.push(row);
      next = { transactionId: row.transactionId, position: row.position };
      scanned++;
    }
    return { rows: behind, next, scanned };
  }

  async countsByStatus(db: Queryable = this.pool): Promise<Record<DeliveryStatus, number>> {
    const { rows } = await db.query(`SELECT status, count(*)::int AS n FROM ${this.table} GROUP BY status`);
    const counts: Record<DeliveryStatus, number> = { pending: 0, delivered: 0, failed: 0 };
    for (const r of rows) counts[r.status as DeliveryStatus] = r.n;
    return counts;
  }

  /**
   * Rows in global order after a cursor, never skipping a row of a transaction still in flight
   * (see afterCursorSql). Returns the cursor to continue from.
   */
  async readAfter(cursor: GlobalCursor, limit = 500, db: Queryable = this.pool): Promise<{ rows: LedgerRow[]; next: GlobalCursor }> {
    const { rows } = await db.query(`SELECT ${COLUMNS} FROM ${this.table} WHERE ${afterCursorSql()} ORDER BY transaction_id, position LIMIT $3`, [cursor.transactionId, cursor.position, limit]);
    const out = rows.map(toRow);
    const last = out[out.length - 1];
    return { rows: out, next: last ? { transactionId: last.transactionId, position: last.position } : cursor };
  }

  /**
   * The rows to publish, each with its stream predecessor's status and whether another publisher
   * holds it, in position order. Read, not locked: nothing is held while Kafka is written (see
   * KafkaRelay.publish); a stale 'pending' predecessor only costs a retry, 'delivered' never goes back.
   */
  async forPublish(eventIds: string[], db: Queryable = this.pool): Promise<PublishRow[]> {
    if (eventIds.length === 0) return [];
    const cols = COLUMNS.split(',')
      .map((c) => c.trim())
      .map((c) => `l.${c}`)
      .join(', ');
    const { rows } = await db.query(
      `SELECT ${cols}, p.status AS predecessor_status, COALESCE(l.claimed_until > now(), false) AS claimed
       FROM ${this.table} l
       LEFT JOIN ${this.table} p ON p.aggregate_type = l.aggregate_type AND p.aggregate_id = l.aggregate_id
                                AND p.aggregate_version = l.aggregate_version - 1
       WHERE l.event_id = ANY($1::text[])
       ORDER BY l.position`,
      [eventIds],
    );
    return rows.map((r) => ({ ...toRow(r), predecessorStatus: r.predecessor_status, claimedElsewhere: r.claimed }));
  }

  /**
   * Claims undelivered rows for one publisher for `leaseMs`: the ones returned are its to send and
   * mark; a row another publisher holds (or that is delivered) is not returned. One statement, so
   * no lock outlives it.
   */
  async claim(eventIds: string[], leaseMs: number, db: Queryable = this.pool): Promise<Set<string>> {
    if (eventIds.length === 0) return new Set();
    const { rows } = await db.query(
      `UPDATE ${this.table} SET claimed_until = now() + make_interval(secs => $2)
        WHERE event_id = ANY($1::text[]) AND status <> 'delivered' AND (claimed_until IS NULL OR claimed_until <= now())
        RETURNING event_id`,
      [eventIds, leaseMs / 1000],
    );
    return new Set(rows.map((r) => r.event_id as string));
  }

  /** Gives claims back unsent (the rows wait behind a predecessor another publisher holds). */
  async releaseClaims(eventIds: string[], db: Queryable = this.pool): Promise<void> {
    if (eventIds.length === 0) return;
    await db.query(`UPDATE ${this.table} SET claimed_until = NULL WHERE event_id = ANY($1::text[]) AND status <> 'delivered'`, [eventIds]);
  }

  /**
   * The given events plus every undelivered earlier version of their streams: publishing that set
   * in order lets the newest event go out at once instead of waiting for its predecessors' own runs.
   */
  async withPendingPredecessors(eventIds: string[], db: Queryable = this.pool): Promise<string[]> {
    if (eventIds.length === 0) return [];
    const { rows } = await db.query(
      `SELECT DISTINCT p.event_id, p.position
       FROM ${this.table} t
       JOIN ${this.table} p ON p.aggregate_type = t.aggregate_type AND p.aggregate_id = t.aggregate_id
                           AND p.aggregate_version < t.aggregate_version AND p.status = 'pending'
       WHERE t.event_id = ANY($1::text[])
       ORDER BY p.position`,
      [eventIds],
    );
    return [...rows.map((r) => r.event_id as string), ...eventIds];
  }

  /** The first delivery of a row is kept: a concurrent publisher's later copy is a duplicate, not the delivery. */
  async markDelivered(db: Queryable, deliveries: Delivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    await db.query(
      `UPDATE ${this.table} l
       SET status = 'delivered', delivered_at = now(), updated_at = now(), attempts = l.attempts + 1,
           kafka_partition = u.partition, kafka_offset = u.kafka_offset, claimed_until = NULL
       FROM unnest($1::text[], $2::int[], $3::bigint[]) AS u(event_id, partition, kafka_offset)
       WHERE l.event_id = u.event_id AND l.status <> 'delivered'`,
      [deliveries.map((d) => d.eventId), deliveries.map((d) => d.partition), deliveries.map((d) => d.offset)],
    );
  }

  /** A failed attempt leaves the row pending (it is retried); status 'failed' is for rows that never can be sent. */
  async markAttemptFailed(db: Queryable, eventIds: string[], error: string, status: 'pending' | 'failed' = 'pending'): Promise<void> {
    if (eventIds.length === 0) return;
    await db.query(
      `UPDATE ${this.table} SET attempts = attempts + 1, last_error = $2, updated_at = now(), status = $3, claimed_until = NULL
       WHERE event_id = ANY($1::text[]) AND status <> 'delivered'`,
      [eventIds, error.slice(0, 2000), status],
    );
  }
}

/** The refusals no retry of the same statement can get past; anything else is left to the caller's retry. */
function refusalCodeOf(err: unknown): RecordFailure['code'] | undefined {
  if (isUniqueViolation(err)) return 'LEDGER_STREAM_CONFLICT';
  if (isDataError(err)) return 'EVENT_NOT_RECORDABLE';
  return undefined;
}

export function createLedger(pool: Pool, options: LedgerOptions): DeliveryLedger {
  return new DeliveryLedger(pool, options);
}

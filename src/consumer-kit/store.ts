/**
 * The kit's PostgreSQL tables: the processed event ids of each consumer group (the idempotent-consumer
 * store) and its dead letters. A handler's own writes go through the transaction that inserts the
 * event's processed row, so the effect and the "done" mark commit together or not at all.
 */
import type { Pool, PoolClient } from 'pg';
import { quoteIdent, type Queryable } from '../adapters/postgres/postgres';
import { runMigrations, type Migration } from '../adapters/postgres/migrations';

export const DEFAULT_CONSUMER_SCHEMA = 'spice_consumers';

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'consumer_kit',
    sql: (s) => `
      CREATE TABLE ${s}.consumer_processed_events (
        group_id          text NOT NULL,
        event_id          text NOT NULL,
        aggregate_id      text NOT NULL,
        aggregate_version integer NOT NULL,
        topic             text NOT NULL,
        kafka_partition   integer NOT NULL,
        kafka_offset      bigint NOT NULL,
        processed_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (group_id, event_id)
      );
      CREATE TABLE ${s}.consumer_dead_letters (
        id              bigserial PRIMARY KEY,
        group_id        text NOT NULL,
        event_id        text NOT NULL,
        topic           text NOT NULL,
        kafka_partition integer NOT NULL,
        kafka_offset    bigint NOT NULL,
        key             text,
        value           text,
        headers         jsonb NOT NULL DEFAULT '{}',
        code            text NOT NULL,
        reason          text NOT NULL,
        attempts        integer NOT NULL,
        dead_at         timestamptz NOT NULL DEFAULT now(),
        replayed_at     timestamptz,
        CONSTRAINT consumer_dead_letters_event_key UNIQUE (group_id, event_id)
      );
    `,
  },
];

export function migrateConsumerStore(pool: Pool, schema: string = DEFAULT_CONSUMER_SCHEMA) {
  return runMigrations(pool, schema, { table: 'consumer_kit_migrations', lockName: 'spice-oms:consumer-kit:', migrations: MIGRATIONS });
}

export interface ProcessedMark {
  group: string;
  eventId: string;
  aggregateId: string;
  aggregateVersion: number;
  topic: string;
  partition: number;
  offset: string;
}

export interface DeadLetter {
  id: number;
  group_id: string;
  event_id: string;
  topic: string;
  kafka_partition: number;
  kafka_offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
  code: string;
  reason: string;
  attempts: number;
  dead_at: string;
  replayed_at: string | null;
}

export type NewDeadLetter = Omit<DeadLetter, 'id' | 'dead_at' | 'replayed_at'>;

export class ConsumerStore {
  private readonly processed: string;
  private readonly deadLetters: string;

  constructor(
    readonly pool: Pool,
    readonly schema: string = DEFAULT_CONSUMER_SCHEMA,
  ) {
    this.processed = `${quoteIdent(schema)}.consumer_processed_events`;
    this.deadLetters = `${quoteIdent(schema)}.consumer_dead_letters`;
  }

  async isProcessed(group: string, eventId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(`SELECT 1 FROM ${this.processed} WHERE group_id = $1 AND event_id = $2`, [group, eventId]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * Inserts the processed row inside the handler's transaction. False when the row exists: another
   * member of the group (before a rebalance finished) committed it first; the insert waited for that
   * transaction on the primary key, so the answer is final.
   */
  async mark(tx: PoolClient, m: ProcessedMark): Promise<boolean> {
    const { rowCount } = await tx.query(
      `INSERT INTO ${this.processed} (group_id, event_id, aggregate_id, aggregate_version, topic, kafka_partition, kafka_offset)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
      [m.group, m.eventId, m.aggregateId, m.aggregateVersion, m.topic, m.partition, m.offset],
    );
    return rowCount === 1;
  }

  /** A dead letter per group and event: dead-lettered again (e.g. after a replay that failed), it is refreshed. */
  async recordDeadLetter(d: NewDeadLetter, db: Queryable = this.pool): Promise<number> {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO ${this.deadLetters} (group_id, event_id, topic, kafka_partition, kafka_offset, key, value, headers, code, reason, attempts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (group_id, event_id) DO UPDATE SET topic = EXCLUDED.topic, kafka_partition = EXCLUDED.kafka_partition, kafka_offset = EXCLUDED.kafka_offset,
         code = EXCLUDED.code, reason = EXCLUDED.reason, attempts = EXCLUDED.attempts, dead_at = now(), replayed_at = NULL
       RETURNING id`,
      [d.group_id, d.event_id, d.topic, d.kafka_partition, d.kafka_offset, d.key, d.value, JSON.stringify(d.headers), d.code, d.reason, d.attempts],
    );
    return Number(rows[0].id);
  }

  async listDeadLetters(group: string, o: { includeReplayed?: boolean; limit?: number } = {}): Promise<DeadLetter[]> {
    const { rows } = await this.pool.query(
      `SELECT id, group_id, event_id, topic, kafka_partition, kafka_offset::text, key, value, headers, code, reason, attempts, dead_at, replayed_at
         FROM ${this.deadLetters} WHERE group_id = $1 ${o.includeReplayed ? '' : 'AND replayed_at IS NULL'} ORDER BY id LIMIT $2`,
      [group, o.limit ?? 1000],
    );
    return rows.map((r) => ({ ...r, id: Number(r.id), dead_at: new Date(r.dead_at).toISOString(), replayed_at: r.replayed_at && new Date(r.replayed_at).toISOString() }));
  }

  async markReplayed(group: string, ids: number[]): Promise<void> {
    await this.pool.query(`UPDATE ${this.deadLetters} SET replayed_at = now() WHERE group_id = $1 AND id = ANY($2::bigint[])`, [group, ids]);
  }
}

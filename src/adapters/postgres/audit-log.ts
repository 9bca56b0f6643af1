/**
 * The audit log's table (the reference consumer's effect): one row per event, per database, in
 * the order the consumer applied them. The consumer writes through the transaction the kit hands
 * it, so a row exists exactly when the event is marked processed.
 */
import type { Pool, PoolClient } from 'pg';
import type { EventEnvelope } from '../../contracts/event-envelope';
import { splitAggregateId } from '../../domain/identifiers';
import { cursorKey, pageOf } from '../../domain/paging';
import type { AuditEntry, AuditLogQueries } from '../../ports/audit-log';
import type { Page, PageQuery } from '../../ports/read-models';
import { ReadModelError } from '../../ports/read-model-errors';
import { runMigrations, type Migration } from './migrations';
import { quoteIdent } from './postgres';

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'audit_log',
    sql: (s) => `
      CREATE TABLE ${s}.audit_log (
        position          bigserial PRIMARY KEY,
        db_name           text NOT NULL,
        event_id          text NOT NULL UNIQUE,
        event_type        text NOT NULL,
        aggregate_type    text NOT NULL,
        aggregate_id      text NOT NULL,
        aggregate_version integer NOT NULL,
        actor             text NOT NULL,
        command_id        text NOT NULL,
        occurred_at       timestamptz NOT NULL,
        schema_version    integer NOT NULL,
        payload           jsonb NOT NULL,
        recorded_at       timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX audit_log_db_idx ON ${s}.audit_log (db_name, position);
    `,
  },
];

export function migrateAuditLog(pool: Pool, schema: string) {
  return runMigrations(pool, schema, { table: 'audit_log_migrations', lockName: 'spice-oms:audit-log:', migrations: MIGRATIONS });
}

/** The database an event belongs to: the database stream's id, or the scope of a class, instance or batch stream. */
export const databaseOfEvent = (e: Pick<EventEnvelope, 'aggregate_id'>): string => splitAggregateId(e.aggregate_id).db;

export class PgAuditLog implements AuditLogQueries {
  private readonly table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
  ) {
    this.table = `${quoteIdent(schema)}.audit_log`;
  }

  /**
   * Called by the audit consumer inside the kit's transaction. An event already in the log (a group
   * renamed or reset by an operator, so its processed marks are gone) is left as it is rather than
   * failing into the dead letters.
   */
  async record(tx: PoolClient, e: EventEnvelope): Promise<void> {
    await tx.query(
      `INSERT INTO ${this.table} (db_name, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, actor, command_id, occurred_at, schema_version, payload)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (event_id) DO NOTHING`,
      [databaseOfEvent(e), e.event_id, e.event_type, e.aggregate_type, e.aggregate_id, e.aggregate_version, e.actor, e.command_id, e.occurred_at, e.schema_version ?? 1, JSON.stringify(e.payload)],
    );
  }

  async list(db: string, q: PageQuery): Promise<Page<AuditEntry>> {
    let after = 0;
    if (q.cursor !== undefined) {
      const key = cursorKey(q.cursor);
      if (typeof key !== 'number' || !Number.isSafeInteger(key) || key < 0) throw new ReadModelError('INVALID_QUERY', 'the cursor is not one this API issued', { parameter: 'cursor' });
      after = key;
    }
    const { rows } = await this.pool.query(
      `SELECT position, event_id, event_type, aggregate_type, aggregate_id, aggregate_version, actor, command_id, occurred_at, schema_version, payload, recorded_at
         FROM ${this.table} WHERE db_name = $1 AND position > $2 ORDER BY position LIMIT $3`,
      [db, after, q.limit + 1],
    );
    return pageOf(
      rows,
      q.limit,
      (r) => Number(r.position),
      (r): AuditEntry => ({ ...r, position: Number(r.position), occurred_at: new Date(r.occurred_at).toISOString(), recorded_at: new Date(r.recorded_at).toISOString() }),
    );
  }
}

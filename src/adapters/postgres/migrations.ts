/**
 * Versioned schema migrations of the ledger and the legacy event table, run at start by every
 * process. All objects live in one configurable schema, so tests (and tenants) do not collide.
 */
import type { Pool } from 'pg';
import { quoteIdent, withTransaction, type Queryable } from './postgres';

export const DEFAULT_SCHEMA = 'spice';

export interface Migration {
  version: number;
  name: string;
  /** s = the quoted schema name. */
  sql: (s: string) => string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'delivery_ledger',
    sql: (s) => `
      CREATE TABLE ${s}.delivery_ledger (
        position          bigserial PRIMARY KEY,
        transaction_id    xid8 NOT NULL DEFAULT pg_current_xact_id(),
        event_id          text NOT NULL,
        command_id        text,
        aggregate_type    text NOT NULL,
        aggregate_id      text NOT NULL,
        aggregate_version integer NOT NULL CHECK (aggregate_version >= 1),
        event_type        text NOT NULL,
        topic             text NOT NULL,
        key               text NOT NULL,
        s3_reference      jsonb,
        payload           jsonb NOT NULL,
        storage_mode      text NOT NULL CHECK (storage_mode IN ('legacy', 'dual_write', 's3_only')),
        status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts          integer NOT NULL DEFAULT 0,
        last_error        text,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now(),
        delivered_at      timestamptz,
        kafka_partition   integer,
        kafka_offset      bigint,
        CONSTRAINT delivery_ledger_event_id_key UNIQUE (event_id),
        CONSTRAINT delivery_ledger_stream_version_key UNIQUE (aggregate_type, aggregate_id, aggregate_version)
      );
      CREATE INDEX delivery_ledger_reader_idx ON ${s}.delivery_ledger (transaction_id, position);
      CREATE INDEX delivery_ledger_command_idx ON ${s}.delivery_ledger (command_id);
      -- Reconciliation only ever looks for what is not delivered yet; the partial index stays small.
      CREATE INDEX delivery_ledger_undelivered_idx ON ${s}.delivery_ledger (created_at) WHERE status <> 'delivered';
    `,
  },
  {
    version: 2,
    name: 'legacy_events',
    sql: (s) => `
      CREATE TABLE ${s}.legacy_events (
        position          bigserial PRIMARY KEY,
        transaction_id    xid8 NOT NULL DEFAULT pg_current_xact_id(),
        event_id          text NOT NULL,
        aggregate_type    text NOT NULL,
        aggregate_id      text NOT NULL,
        aggregate_version integer NOT NULL CHECK (aggregate_version >= 1),
        event_type        text NOT NULL,
        payload           jsonb NOT NULL,
        metadata          jsonb NOT NULL DEFAULT '{}',
        occurred_at       timestamptz NOT NULL,
        CONSTRAINT legacy_events_event_id_key UNIQUE (event_id),
        CONSTRAINT legacy_events_stream_version_key UNIQUE (aggregate_type, aggregate_id, aggregate_version)
      );
      CREATE INDEX legacy_events_reader_idx ON ${s}.legacy_events (transaction_id, position);
    `,
  },
  {
    version: 3,
    name: 'reconciler_checkpoints',
    sql: (s) => `
      CREATE TABLE ${s}.reconciler_checkpoints (
        name       text PRIMARY KEY,
        checkpoint text,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 4,
    name: 'legacy_commands',
    // Written in the statement that inserts the command's events: the legacy store's command marker
    // (or, for a command that claims, its decision).
    sql: (s) => `
      CREATE TABLE ${s}.legacy_commands (
        command_id     text PRIMARY KEY,
        request_hash   text NOT NULL,
        aggregate_type text NOT NULL,
        aggregate_id   text NOT NULL,
        first_version  integer NOT NULL CHECK (first_version >= 1),
        event_ids      text[] NOT NULL,
        -- a command that claims (bulk): its write-once decision on its claims
        decision       text CHECK (decision IN ('commit', 'void'))
      );
    `,
  },
  {
    version: 5,
    name: 'delivery_claims',
    // A publisher claims the rows it sends (until then + a lease) instead of holding their locks
    // across the send; a claim left by a publisher that died lapses with the lease.
    sql: (s) => `ALTER TABLE ${s}.delivery_ledger ADD COLUMN claimed_until timestamptz;`,
  },
];

export interface MigrateResult {
  schema: string;
  applied: number[];
}

/**
 * The transaction-scoped lock every change to a schema's catalog takes first: migrations of any set
 * and the runtime role's grants. Two sets on one schema under their own locks alone both ran
 * CREATE SCHEMA IF NOT EXISTS at once, and one of the processes starting together failed on the
 * catalog's unique index.
 */
export async function lockSchemaCatalog(client: Queryable, schema: string): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('spice-oms:schema:' || $1))`, [schema]);
}

/**
 * Applies the missing migrations of one set in one transaction. The transaction-scoped advisory
 * locks (the schema's, then the set's) serialise processes starting together; whoever waits
 * re-reads the migration table after the winner committed and finds nothing to do. Each set keeps
 * its own table, so sets may share a schema without their versions colliding.
 */
export async function runMigrations(pool: Pool, schema: string, set: { table: string; lockName: string; migrations: readonly Migration[] }): Promise<MigrateResult> {
  const s = quoteIdent(schema);
  const table = `${s}.${quoteIdent(set.table)}`;
  return withTransaction(pool, async (client) => {
    await lockSchemaCatalog(client, schema);
    await client.query(`SELECT pg_advisory_xact_lock(hashtext($1 || $2))`, [set.lockName, schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${table} (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set((await client.query<{ version: number }>(`SELECT version FROM ${table}`)).rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...set.migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query(m.sql(s));
      await client.query(`INSERT INTO ${table} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    return { schema, applied };
  });
}

/** The ledger's and the legacy event table's migrations. */
export function migrate(pool: Pool, schema: string = DEFAULT_SCHEMA, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  return runMigrations(pool, schema, { table: 'schema_migrations', lockName: 'spice-oms:migrate:', migrations });
}

/** For tests and tear-down scripts. */
export async function dropSchema(pool: Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
}

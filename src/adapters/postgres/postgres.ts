/**
 * The PostgreSQL pool factory and the few helpers every PostgreSQL adapter shares. PostgreSQL
 * holds the delivery ledger and read models (and, in the legacy storage mode, the old event table).
 */
import { Pool, PoolClient, PoolConfig } from 'pg';

/** Anything that runs a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<Pool, 'query'> | PoolClient;

/** The session setting the read models' search trigger reads its prefix length from (read-model-schema.ts). */
export const SEARCH_MAX_CHARS_SETTING = 'spice_oms.search_max_chars';

/** The fields of the app's config the pool needs (adapters never import the config module itself). */
export interface PoolSettings {
  databaseUrl: string;
  PG_POOL_MAX: number;
  SEARCH_INDEX_MAX_CHARS?: number;
}

/**
 * The pool of the schemas' owner: migrations and the other DDL (a rebuild's new schema, its switch).
 * Small: it runs a few statements at start and during a rebuild, while the runtime pool serves.
 */
export function createOwnerPool(config: PoolSettings & { databaseOwnerUrl: string }, overrides: PoolConfig = {}): Pool {
  return createPool({ ...config, databaseUrl: config.databaseOwnerUrl }, { max: 2, ...overrides });
}

export function createPool(config: PoolSettings, overrides: PoolConfig = {}): Pool {
  const pool = new Pool({
    connectionString: config.databaseUrl,
    max: config.PG_POOL_MAX,
    ...(config.SEARCH_INDEX_MAX_CHARS !== undefined ? { options: `-c ${SEARCH_MAX_CHARS_SETTING}=${config.SEARCH_INDEX_MAX_CHARS}` } : {}),
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    application_name: 'spice-oms',
    ...overrides,
  });
  // An idle client losing its connection (server restart) emits 'error' on the pool; unhandled, that
  // kills the process, while the next query simply gets a fresh connection.
  pool.on('error', () => undefined);
  return pool;
}

export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Schema names come from configuration and tests ("ledger-abc12"), so they are always quoted. */
export function quoteIdent(name: string): string {
  if (!name || name.length > 63 || name.includes('\0')) throw new Error(`invalid SQL identifier: ${JSON.stringify(name)}`);
  return `"${name.replace(/"/g, '""')}"`;
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string } | null;
  return !!e && e.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

/**
 * A statement refused for its data, not for the server's state: a value PostgreSQL cannot hold
 * (class 22: U+0000, an unpaired surrogate, invalid JSON text) or a limit it enforces (class 54:
 * e.g. a tsvector over 1 MB). Running it again fails the same way; a connection loss or a
 * serialization failure does not belong here.
 */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(code);
}

/** A checkpoint of a position reader: see DeliveryLedger.readAfter for why it has two parts. */
export interface GlobalCursor {
  /** xid8 as decimal text (it can exceed 2^53). */
  transactionId: string;
  position: number;
}

export const START_CURSOR: GlobalCursor = { transactionId: '0', position: 0 };

/**
 * The condition of an in-order position reader. A bigserial is taken at insert time, so a
 * transaction still in flight can hold a lower position than rows already committed; a reader that
 * moved past them would never see it. Only rows of transactions older than every running one
 * (below the snapshot's xmin) are final, and ordering by (transaction_id, position) keeps the
 * cursor monotonic. $1 = transaction id, $2 = position.
 */
export function afterCursorSql(alias = ''): string {
  const a = alias ? `${alias}.` : '';
  return `${a}transaction_id < pg_snapshot_xmin(pg_current_snapshot())
      AND (${a}transaction_id > $1::xid8 OR (${a}transaction_id = $1::xid8 AND ${a}position > $2))`;
}

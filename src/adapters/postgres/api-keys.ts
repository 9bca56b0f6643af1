/**
 * API keys in PostgreSQL, next to the ledger (same schema). A row keeps the key's HMAC, never the
 * key; a revoked row stays, so its name (the actor of its events) is never given to another key.
 */
import type { Pool } from 'pg';
import type { ApiKeyRecord, ApiKeyStore } from '../../ports/api-keys';
import { runMigrations, type Migration } from './migrations';
import { quoteIdent } from './postgres';

const ACCESS_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'api_keys',
    sql: (s) => `
      CREATE TABLE ${s}.api_keys (
        key_id     text PRIMARY KEY,
        name       text NOT NULL UNIQUE,
        role       text NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
        databases  text[],
        hash       text NOT NULL,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      );
    `,
  },
];

/** A set of its own (table access_migrations), so its versions never meet the ledger's. */
export const migrateApiKeys = (pool: Pool, schema: string) => runMigrations(pool, schema, { table: 'access_migrations', lockName: 'spice-oms:access:', migrations: ACCESS_MIGRATIONS });

interface Row {
  key_id: string;
  name: string;
  role: ApiKeyRecord['role'];
  databases: string[] | null;
  hash: string;
  created_by: string;
  created_at: Date;
  revoked_at: Date | null;
}

const recordOf = (r: Row): ApiKeyRecord => ({
  key_id: r.key_id,
  name: r.name,
  role: r.role,
  databases: r.databases,
  created_at: r.created_at.toISOString(),
  created_by: r.created_by,
  revoked_at: r.revoked_at?.toISOString() ?? null,
});

export class ApiKeyExistsError extends Error {
  readonly code = 'API_KEY_EXISTS';
}

export class PgApiKeyStore implements ApiKeyStore {
  private readonly table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
  ) {
    this.table = `${quoteIdent(schema)}.api_keys`;
  }

  async insert(record: Omit<ApiKeyRecord, 'created_at' | 'revoked_at'>, hash: string): Promise<ApiKeyRecord> {
    try {
      const { rows } = await this.pool.query<Row>(`INSERT INTO ${this.table} (key_id, name, role, databases, hash, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`, [
        record.key_id,
        record.name,
        record.role,
        record.databases,
        hash,
        record.created_by,
      ]);
      return recordOf(rows[0]);
    } catch (err) {
      if ((err as { code?: string }).code === '23505') throw new ApiKeyExistsError(`an API key named '${record.name}' exists (names are never reused)`);
      throw err;
    }
  }

  async find(keyId: string) {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM ${this.table} WHERE key_id = $1`, [keyId]);
    return rows.length === 0 ? null : { record: recordOf(rows[0]), hash: rows[0].hash };
  }

  async list(): Promise<ApiKeyRecord[]> {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM ${this.table} ORDER BY created_at, key_id`);
    return rows.map(recordOf);
  }

  async revoke(keyId: string): Promise<ApiKeyRecord | null> {
    const { rows } = await this.pool.query<Row>(`UPDATE ${this.table} SET revoked_at = coalesce(revoked_at, now()) WHERE key_id = $1 RETURNING *`, [keyId]);
    return rows.length === 0 ? null : recordOf(rows[0]);
  }
}

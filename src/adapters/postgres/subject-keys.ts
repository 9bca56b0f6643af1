/**
 * Data keys of personal-data subjects in PostgreSQL (the ledger's schema), each wrapped with
 * AES-256-GCM under the master key from the config: a copy of the table alone opens nothing.
 * Forgetting deletes the row; nothing else holds the key (no cache outlives a call).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import type { SubjectKeyStore } from '../../ports/personal-data';
import { runMigrations, type Migration } from './migrations';
import { quoteIdent } from './postgres';

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'subject_keys',
    sql: (s) => `
      CREATE TABLE ${s}.subject_keys (
        subject    text PRIMARY KEY,
        wrapped    bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];

export const migrateSubjectKeys = (pool: Pool, schema: string) => runMigrations(pool, schema, { table: 'subject_key_migrations', lockName: 'spice-oms:subject-keys:', migrations: MIGRATIONS });

const IV_BYTES = 12;
const TAG_BYTES = 16;

export class PgSubjectKeyStore implements SubjectKeyStore {
  private readonly table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    private readonly masterKey: Buffer,
  ) {
    if (masterKey.length !== 32) throw new Error('the master key must be 32 bytes');
    this.table = `${quoteIdent(schema)}.subject_keys`;
  }

  async dataKeys(subjects: readonly string[], o: { create: boolean }): Promise<Map<string, Buffer>> {
    const unique = [...new Set(subjects)];
    const keys = new Map<string, Buffer>();
    if (unique.length === 0) return keys;
    if (o.create) {
      // Concurrent writers of one subject race here: the first row stays, every writer reads it back.
      const fresh = unique.map((s) => [s, this.wrap(randomBytes(32), s)] as const);
      await this.pool.query(`INSERT INTO ${this.table} (subject, wrapped) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT (subject) DO NOTHING`, [
        fresh.map(([s]) => s),
        fresh.map(([, w]) => w),
      ]);
    }
    const { rows } = await this.pool.query<{ subject: string; wrapped: Buffer }>(`SELECT subject, wrapped FROM ${this.table} WHERE subject = ANY($1::text[])`, [unique]);
    for (const r of rows) keys.set(r.subject, this.unwrap(r.wrapped, r.subject));
    return keys;
  }

  async forget(subject: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(`DELETE FROM ${this.table} WHERE subject = $1`, [subject]);
    return (rowCount ?? 0) > 0;
  }

  /** iv | tag | ciphertext; the subject is the associated data, so a row moved to another subject does not open. */
  private wrap(key: Buffer, subject: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.masterKey, iv).setAAD(Buffer.from(subject));
    const ct = Buffer.concat([c.update(key), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), ct]);
  }

  private unwrap(wrapped: Buffer, subject: string): Buffer {
    const d = createDecipheriv('aes-256-gcm', this.masterKey, wrapped.subarray(0, IV_BYTES)).setAAD(Buffer.from(subject));
    d.setAuthTag(wrapped.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([d.update(wrapped.subarray(IV_BYTES + TAG_BYTES)), d.final()]);
  }
}

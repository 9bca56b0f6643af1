/** Scan checkpoints in the ledger schema's reconciler_checkpoints table (created by its migrations). */
import type { Pool } from 'pg';
import type { CheckpointStore } from '../../ports/checkpoints';
import { quoteIdent } from './postgres';

export class PgCheckpointStore implements CheckpointStore {
  private readonly table: string;

  constructor(
    private readonly pool: Pick<Pool, 'query'>,
    schema: string,
  ) {
    this.table = `${quoteIdent(schema)}.reconciler_checkpoints`;
  }

  async load(name: string): Promise<string | undefined> {
    const r = await this.pool.query(`SELECT checkpoint FROM ${this.table} WHERE name = $1`, [name]);
    return r.rows[0]?.checkpoint ?? undefined;
  }

  async save(name: string, checkpoint: string): Promise<void> {
    await this.pool.query(`INSERT INTO ${this.table} (name, checkpoint) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET checkpoint = $2, updated_at = now()`, [name, checkpoint]);
  }
}

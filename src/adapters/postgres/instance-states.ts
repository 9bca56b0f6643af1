/**
 * The instances of active databases as the read models hold them, in key order from a position:
 * what the search reconciliation sweeps through a page per run.
 */
import type { Pool } from 'pg';
import type { InstanceState } from '../../ports/search';
import { quoteIdent } from './postgres';

export interface InstanceStatePage {
  rows: InstanceState[];
  /** Key of the last row, or null when the sweep reached the end. */
  next: [string, string] | null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- pg rows are untyped; columns are read by name
const stateOf = (r: any): InstanceState => ({
  db: r.db_name,
  incarnation: r.incarnation,
  id: r.instance_id,
  class_id: r.class_id,
  properties: r.properties,
  relationships: r.relationships,
  version: r.version,
  deleted: r.deleted,
  updated_at: new Date(r.updated_at).toISOString(),
});

export class PgInstanceStates {
  private readonly s: string;

  constructor(
    private readonly pool: Pick<Pool, 'query'>,
    schema: string,
  ) {
    this.s = quoteIdent(schema);
  }

  /** Sets an instance's properties (a forgotten subject's erased values); its row as it is now, or undefined when there is none. */
  async replaceProperties(db: string, id: string, properties: Record<string, unknown>): Promise<InstanceState | undefined> {
    const { rows } = await this.pool.query(
      `UPDATE ${this.s}.instances i SET properties = $3 FROM ${this.s}.databases d
        WHERE i.db_name = $1 AND i.instance_id = $2 AND d.name = i.db_name
        RETURNING i.db_name, d.incarnation, i.instance_id, i.class_id, i.properties, i.relationships, i.version, i.deleted, i.updated_at`,
      [db, id, JSON.stringify(properties)],
    );
    return rows.map(stateOf)[0];
  }

  async page(after: [string, string] | null, limit: number): Promise<InstanceStatePage> {
    const { rows } = await this.pool.query(
      `SELECT i.db_name, d.incarnation, i.instance_id, i.class_id, i.properties, i.relationships, i.version, i.deleted, i.updated_at
         FROM ${this.s}.instances i JOIN ${this.s}.databases d ON d.name = i.db_name AND d.status = 'active'
        WHERE ($1::text IS NULL OR (i.db_name, i.instance_id) > ($1, $2))
        ORDER BY i.db_name, i.instance_id
        LIMIT $3`,
      [after?.[0] ?? null, after?.[1] ?? null, limit],
    );
    const states = rows.map(stateOf);
    const last = states[states.length - 1];
    return { rows: states, next: states.length === limit && last ? [last.db, last.id] : null };
  }
}

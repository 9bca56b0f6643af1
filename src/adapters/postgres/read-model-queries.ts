/**
 * Queries over the read models: what the REST API shows (ReadModelQueries) and what the command
 * workflow loads into decide()'s context. Tombstones (deleted instances, deleted databases) never
 * show in the API views; the context queries report them where decide() can tell them apart.
 */
import type { Pool } from 'pg';
import type { ClassView, DatabaseView, EdgeView, InstanceQuery, InstanceView, Page, PageQuery, ReadModelQueries, RelationshipPage } from '../../ports/read-models';
import type { ClassDefinition } from '../../domain/ontology-class';
import type { InstanceRef } from '../../domain/instance-validation';
import type { DatabaseState } from '../../domain/state';
import { cursorKey, MAX_PAGE_LIMIT, pageOf } from '../../domain/paging';
import type { BulkOrigin, DecisionContext } from '../../ports/decision-context';
import { ReadModelError } from '../../ports/read-model-errors';
import { DEFAULT_READ_MODEL_SCHEMA } from './read-model-schema';
import { quoteIdent } from './postgres';

export const MAX_TRAVERSAL_DEPTH = 5;
export const MAX_TRAVERSAL_NODES = 10_000;

// ---- cursors (src/domain/paging.ts) ---------------------------------------------------------

const badCursor = (): never => {
  throw new ReadModelError('INVALID_QUERY', 'the cursor is not one this API issued', { parameter: 'cursor' });
};

/** The id after which a page of a single-column key starts. */
export function decodeCursor(cursor: string): string {
  const after = cursorKey(cursor);
  return typeof after === 'string' && after.length > 0 ? after : badCursor();
}

/** A cursor over a composite key of `size` text columns. */
export function decodeKeyCursor(cursor: string, size: number): string[] {
  const after = cursorKey(cursor);
  const ok = Array.isArray(after) && after.length === size && after.every((k) => typeof k === 'string');
  return ok ? (after as string[]) : badCursor();
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ReadModelError('INVALID_QUERY', `${name} must be an integer from ${min} to ${max}`, { parameter: name, value });
  }
}

// ---- rows -----------------------------------------------------------------------------------

interface InstanceRow {
  db_name: string;
  instance_id: string;
  class_id: string;
  properties: Record<string, unknown>;
  relationships: Record<string, string | string[]>;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const INSTANCE_COLUMNS = 'db_name, instance_id, class_id, properties, relationships, version, created_at, updated_at';

const instanceView = (r: InstanceRow): InstanceView => ({
  db_name: r.db_name,
  id: r.instance_id,
  class_id: r.class_id,
  properties: r.properties,
  relationships: r.relationships,
  version: r.version,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
});

interface ClassRow {
  db_name: string;
  class_id: string;
  label: string;
  description: string | null;
  parent_class: string | null;
  abstract: boolean;
  definition: Record<string, unknown>;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const classView = (r: ClassRow): ClassView => ({
  db_name: r.db_name,
  id: r.class_id,
  label: r.label,
  description: r.description,
  parent_class: r.parent_class,
  abstract: r.abstract,
  definition: r.definition,
  version: r.version,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
});

interface DatabaseRow {
  name: string;
  description: string | null;
  status: 'active' | 'deleted';
  version: number;
  incarnation: number;
  created_at: Date;
  updated_at: Date;
}

const databaseView = (r: DatabaseRow): DatabaseView => ({
  name: r.name,
  description: r.description,
  version: r.version,
  created_at: r.created_at.toISOString(),
  updated_at: r.updated_at.toISOString(),
});

// ---- queries --------------------------------------------------------------------------------

export class PgReadModelQueries implements ReadModelQueries, DecisionContext {
  private readonly s: string;

  constructor(
    private readonly pool: Pick<Pool, 'query'>,
    readonly schema: string = DEFAULT_READ_MODEL_SCHEMA,
  ) {
    this.s = quoteIdent(schema);
  }

  async listDatabases(q: PageQuery): Promise<Page<DatabaseView>> {
    checkInt('limit', q.limit, 1, MAX_PAGE_LIMIT);
    const after = q.cursor === undefined ? null : decodeCursor(q.cursor);
    const { rows } = await this.pool.query<DatabaseRow>(`SELECT * FROM ${this.s}.databases WHERE status = 'active' AND ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2`, [after, q.limit + 1]);
    return pageOf(rows, q.limit, (r) => r.name, databaseView);
  }

  async getDatabase(name: string): Promise<DatabaseView | null> {
    const { rows } = await this.pool.query<DatabaseRow>(`SELECT * FROM ${this.s}.databases WHERE name = $1 AND status = 'active'`, [name]);
    return rows[0] ? databaseView(rows[0]) : null;
  }

  async listClasses(db: string, q: PageQuery): Promise<Page<ClassView>> {
    checkInt('limit', q.limit, 1, MAX_PAGE_LIMIT);
    const after = q.cursor === undefined ? null : decodeCursor(q.cursor);
    const { rows } = await this.pool.query<ClassRow>(`SELECT * FROM ${this.s}.classes WHERE db_name = $1 AND ($2::text IS NULL OR class_id > $2) ORDER BY class_id LIMIT $3`, [db, after, q.limit + 1]);
    return pageOf(rows, q.limit, (r) => r.class_id, classView);
  }

  async getClass(db: string, classId: string): Promise<ClassView | null> {
    const { rows } = await this.pool.query<ClassRow>(`SELECT * FROM ${this.s}.classes WHERE db_name = $1 AND class_id = $2`, [db, classId]);
    return rows[0] ? classView(rows[0]) : null;
  }

  /** Keyset paging by instance id; `class_id` is the exact class, `filter` is jsonb containment (GIN). */
  async listInstances(db: string, q: InstanceQuery): Promise<{ items: InstanceView[]; next_cursor: string | null }> {
    checkInt('limit', q.limit, 1, MAX_PAGE_LIMIT);
    const params: unknown[] = [db];
    const where = ['db_name = $1', 'NOT deleted'];
    if (q.class_id !== undefined) {
      params.push(q.class_id);
      where.push(`class_id = $${params.length}`);
    }
    if (q.filter !== undefined && Object.keys(q.filter).length > 0) {
      params.push(JSON.stringify(q.filter));
      where.push(`properties @> $${params.length}::jsonb`);
    }
    if (q.cursor !== undefined) {
      params.push(decodeCursor(q.cursor));
      where.push(`instance_id > $${params.length}`);
    }
    params.push(q.limit + 1);
    const { rows } = await this.pool.query<InstanceRow>(
      `SELECT ${INSTANCE_COLUMNS} FROM ${this.s}.instances WHERE ${where.join(' AND ')}
        ORDER BY instance_id LIMIT $${params.length}`,
      params,
    );
    return pageOf(rows, q.limit, (r) => r.instance_id, instanceView);
  }

  async getInstance(db: string, id: string): Promise<InstanceView | null> {
    const { rows } = await this.pool.query<InstanceRow>(`SELECT ${INSTANCE_COLUMNS} FROM ${this.s}.instances WHERE db_name = $1 AND instance_id = $2 AND NOT deleted`, [db, id]);
    return rows[0] ? instanceView(rows[0]) : null;
  }

  /**
   * One hop both ways, edges to or from deleted instances left out, paged as one list ordered by
   * (direction, predicate, from_id, to_id): incoming edges come first. Each branch carries the
   * keyset condition itself, so a page of a hub's edges is read from the index, not the whole set.
   */
  async relationships(db: string, id: string, q: PageQuery): Promise<RelationshipPage> {
    checkInt('limit', q.limit, 1, MAX_PAGE_LIMIT);
    const [dir, predicate, from, to] = q.cursor === undefined ? [null, null, null, null] : decodeKeyCursor(q.cursor, 4);
    const after = (d: string) => `($3::text IS NULL OR $3 < '${d}' OR ($3 = '${d}' AND (e.predicate, e.from_id, e.to_id) > ($4::text, $5::text, $6::text)))`;
    const { rows } = await this.pool.query<EdgeView & { dir: 'out' | 'in' }>(
      `WITH me AS (SELECT 1 FROM ${this.s}.instances WHERE db_name = $1 AND instance_id = $2 AND NOT deleted)
       SELECT 'out' AS dir, e.from_id, e.predicate, e.to_id
         FROM ${this.s}.edges e JOIN ${this.s}.instances o ON o.db_name = e.db_name AND o.instance_id = e.to_id AND NOT o.deleted
        WHERE e.db_name = $1 AND e.from_id = $2 AND EXISTS (SELECT 1 FROM me) AND ${after('out')}
       UNION ALL
       SELECT 'in', e.from_id, e.predicate, e.to_id
         FROM ${this.s}.edges e JOIN ${this.s}.instances o ON o.db_name = e.db_name AND o.instance_id = e.from_id AND NOT o.deleted
        WHERE e.db_name = $1 AND e.to_id = $2 AND EXISTS (SELECT 1 FROM me) AND ${after('in')}
       ORDER BY 1, 3, 2, 4
       LIMIT $7`,
      [db, id, dir, predicate, from, to, q.limit + 1],
    );
    const page = pageOf(rows, q.limit, (r) => [r.dir, r.predicate, r.from_id, r.to_id]);
    const edge = (r: EdgeView): EdgeView => ({ from_id: r.from_id, predicate: r.predicate, to_id: r.to_id });
    return {
      outgoing: page.items.filter((r) => r.dir === 'out').map(edge),
      incoming: page.items.filter((r) => r.dir === 'in').map(edge),
      next_cursor: page.next_cursor,
    };
  }

  /**
   * Breadth-first, one query per level (at most MAX_TRAVERSAL_DEPTH), over edges in both
   * directions between live instances. Nodes come in BFS order (ties by id) and stop at `limit`;
   * the edges returned are all edges among the returned nodes.
   */
  async traverse(db: string, id: string, depth: number, limit: number): Promise<{ nodes: InstanceView[]; edges: EdgeView[] }> {
    checkInt('depth', depth, 0, MAX_TRAVERSAL_DEPTH);
    checkInt('limit', limit, 1, MAX_TRAVERSAL_NODES);
    const start = await this.getInstance(db, id);
    if (start === null) return { nodes: [], edges: [] };
    const visited = new Set<string>([id]);
    let frontier = [id];
    for (let level = 0; level < depth && frontier.length > 0 && visited.size < limit; level++) {
      const { rows } = await this.pool.query<{ neighbour: string }>(
        `SELECT DISTINCT n.neighbour FROM (
           SELECT e.to_id AS neighbour FROM ${this.s}.edges e WHERE e.db_name = $1 AND e.from_id = ANY($2::text[])
           UNION
           SELECT e.from_id FROM ${this.s}.edges e WHERE e.db_name = $1 AND e.to_id = ANY($2::text[])
         ) n
         JOIN ${this.s}.instances i ON i.db_name = $1 AND i.instance_id = n.neighbour AND NOT i.deleted
         WHERE NOT (n.neighbour = ANY($3::text[]))
         ORDER BY n.neighbour
         LIMIT $4`,
        [db, frontier, [...visited], limit - visited.size],
      );
      frontier = rows.map((r) => r.neighbour);
      for (const n of frontier) visited.add(n);
    }
    const ids = [...visited];
    const [nodes, edges] = await Promise.all([
      this.pool.query<InstanceRow>(`SELECT ${INSTANCE_COLUMNS} FROM ${this.s}.instances WHERE db_name = $1 AND instance_id = ANY($2::text[]) AND NOT deleted`, [db, ids]),
      this.pool.query<EdgeView>(
        `SELECT from_id, predicate, to_id FROM ${this.s}.edges
          WHERE db_name = $1 AND from_id = ANY($2::text[]) AND to_id = ANY($2::text[])
          ORDER BY from_id, predicate, to_id`,
        [db, ids],
      ),
    ]);
    const rank = new Map(ids.map((n, i) => [n, i]));
    const ordered = nodes.rows.map(instanceView).sort((a, b) => rank.get(a.id)! - rank.get(b.id)!);
    return { nodes: ordered, edges: edges.rows };
  }

  /** Full text over the string values of properties ('simple' config: no stemming, any language). */
  async search(db: string, text: string, q: { class_id?: string; limit: number }): Promise<InstanceView[]> {
    checkInt('limit', q.limit, 1, MAX_PAGE_LIMIT);
    if (text.trim() === '') return [];
    const params: unknown[] = [db, text, q.limit];
    let classFilter = '';
    if (q.class_id !== undefined) {
      params.push(q.class_id);
      classFilter = 'AND class_id = $4';
    }
    const { rows } = await this.pool.query<InstanceRow>(
      `SELECT ${INSTANCE_COLUMNS} FROM ${this.s}.instances, websearch_to_tsquery('simple', $2) AS query
        WHERE db_name = $1 AND NOT deleted AND search @@ query ${classFilter}
        ORDER BY ts_rank(search, query) DESC, instance_id
        LIMIT $3`,
      params,
    );
    return rows.map(instanceView);
  }

  // ---- decision context ---------------------------------------------------------------------

  async databaseState(db: string): Promise<DatabaseState> {
    const { rows } = await this.pool.query<DatabaseRow>(`SELECT * FROM ${this.s}.databases WHERE name = $1`, [db]);
    const r = rows[0];
    if (r === undefined) return { aggregate_type: 'database', version: 0, status: 'absent' };
    const state: DatabaseState = { aggregate_type: 'database', version: r.version, status: r.status, name: r.name, incarnation: r.incarnation };
    if (r.description !== null) state.description = r.description;
    return state;
  }

  async classCatalog(db: string): Promise<Record<string, ClassDefinition>> {
    const { rows } = await this.pool.query<{ class_id: string; definition: ClassDefinition }>(`SELECT class_id, definition FROM ${this.s}.classes WHERE db_name = $1`, [db]);
    const catalog: Record<string, ClassDefinition> = {};
    for (const r of rows) catalog[r.class_id] = r.definition;
    return catalog;
  }

  async instanceRefs(db: string, ids: readonly string[]): Promise<Record<string, InstanceRef | undefined>> {
    const refs: Record<string, InstanceRef | undefined> = {};
    if (ids.length === 0) return refs;
    const { rows } = await this.pool.query<{ instance_id: string; class_id: string; deleted: boolean }>(
      `SELECT instance_id, class_id, deleted FROM ${this.s}.instances WHERE db_name = $1 AND instance_id = ANY($2::text[])`,
      [db, [...new Set(ids)]],
    );
    for (const r of rows) refs[r.instance_id] = { class_id: r.class_id, deleted: r.deleted };
    return refs;
  }

  async countInstances(db: string, classId: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.s}.instances WHERE db_name = $1 AND class_id = $2 AND NOT deleted`, [db, classId]);
    return Number(rows[0].n);
  }

  async bulkOrigin(db: string, instanceId: string): Promise<BulkOrigin | null> {
    const { rows } = await this.pool.query<{ batch_aggregate_id: string; batch_version: number }>(
      `SELECT batch_aggregate_id, batch_version FROM ${this.s}.instances
        WHERE db_name = $1 AND instance_id = $2 AND batch_aggregate_id IS NOT NULL`,
      [db, instanceId],
    );
    const r = rows[0];
    return r ? { aggregate_type: 'instance_batch', aggregate_id: r.batch_aggregate_id, version: r.batch_version } : null;
  }

  async streamVersion(aggregateType: string, aggregateId: string): Promise<number> {
    const { rows } = await this.pool.query<{ version: number }>(`SELECT version FROM ${this.s}.stream_positions WHERE aggregate_type = $1 AND aggregate_id = $2`, [aggregateType, aggregateId]);
    return rows[0]?.version ?? 0;
  }
}

/**
 * Rebuilding the read models from the event log into a fresh schema, and comparing two schemas.
 * A rebuild goes to a new schema next to the live one (then a switch of the configured schema
 * name), so queries keep answering while it runs.
 */
import type { Pool } from 'pg';
import type { EventEnvelope } from '../../contracts/event-envelope';
import { ReadModelError } from '../../ports/read-model-errors';
import { ProjectorOptions, ReadModelProjector } from './read-model-projector';
import { addApplyResult, ApplyResult, StreamsNotProjectedError } from '../../ports/projector';
import { READ_MODEL_TABLES, migrateReadModels, switchLockSql } from './read-model-schema';
import { quoteIdent, withTransaction } from './postgres';
import type { CatchUpResult, ReadModelComparison, ReadModelRebuild, RowDifferenceKind, SwitchResult, TableComparison } from '../../ports/read-model-rebuild';
import type { EventHistory } from '../../ports/event-history';

export interface RebuildOptions extends ProjectorOptions {
  /** Events per transaction. */
  chunkEvents?: number;
  /** Bulk instances per transaction: a chunk closes early once its batch events hold this many. */
  chunkInstances?: number;
  /** Continue into a schema that already holds projected streams (an interrupted rebuild). */
  resume?: boolean;
  onProgress?: (p: RebuildResult) => void;
}

export interface RebuildResult extends ApplyResult {
  schema: string;
  events: number;
  chunks: number;
}

/**
 * Applies `events` (each stream in version order, streams in any interleaving: the event store's
 * readAll in time order) to `targetSchema`, migrated by its owner beforehand. Idempotent like every
 * projection, so re-running with `resume` after a crash picks up where the positions stand.
 */
export async function rebuildReadModels(pool: Pool, targetSchema: string, events: AsyncIterable<EventEnvelope> | Iterable<EventEnvelope>, options: RebuildOptions = {}): Promise<RebuildResult> {
  const chunkEvents = options.chunkEvents ?? 500;
  const chunkInstances = options.chunkInstances ?? 20_000;
  if (!options.resume) {
    const { rows } = await pool.query<{ used: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${quoteIdent(targetSchema)}.stream_positions) AS used`);
    if (rows[0].used) {
      throw new ReadModelError('REBUILD_TARGET_NOT_EMPTY', `schema '${targetSchema}' already holds projected streams`, { schema: targetSchema });
    }
  }
  const projector = new ReadModelProjector(pool, targetSchema, { history: options.history });
  const result: RebuildResult = { schema: targetSchema, events: 0, chunks: 0, applied: 0, skipped: 0, filled: 0, dropped: 0 };
  let chunk: EventEnvelope[] = [];
  let weight = 0;
  const flush = async (): Promise<void> => {
    if (chunk.length === 0) return;
    addApplyResult(result, await projector.apply(chunk));
    result.events += chunk.length;
    result.chunks++;
    chunk = [];
    weight = 0;
    options.onProgress?.({ ...result });
  };
  for await (const e of events) {
    chunk.push(e);
    const instances = (e.payload as { instances?: unknown } | null)?.instances;
    weight += Array.isArray(instances) ? instances.length : 0;
    if (chunk.length >= chunkEvents || weight >= chunkInstances) await flush();
  }
  await flush();
  return result;
}

// ---- comparison -----------------------------------------------------------------------------

/**
 * Row by row over every read-model table, keyed by primary key. Nothing is ignored but generated
 * columns (the search vector follows from properties): all timestamps come from events, so a
 * rebuild equals the live models exactly.
 */
export async function compareReadModels(pool: Pick<Pool, 'query'>, schemaA: string, schemaB: string, options: { samples?: number } = {}): Promise<ReadModelComparison> {
  const a = quoteIdent(schemaA);
  const b = quoteIdent(schemaB);
  const tables: TableComparison[] = [];
  for (const t of READ_MODEL_TABLES) {
    const keys = t.key.map(quoteIdent);
    const side = (s: string): string => `SELECT ${keys.join(', ')}, to_jsonb(t) - $1::text[] AS r FROM ${s}.${quoteIdent(t.name)} t`;
    const diff = `
      WITH a AS (${side(a)}), b AS (${side(b)}),
      d AS (
        SELECT ${keys.join(', ')}, a.r AS ra, b.r AS rb,
               CASE WHEN a.r IS NULL THEN 'missing_in_a' WHEN b.r IS NULL THEN 'missing_in_b' ELSE 'different' END AS kind
          FROM a FULL JOIN b USING (${keys.join(', ')})
         WHERE a.r IS DISTINCT FROM b.r
      )`;
    const counts = await pool.query<{ kind: RowDifferenceKind; n: string }>(`${diff} SELECT kind, count(*) AS n FROM d GROUP BY kind`, [t.exclude]);
    const samples = await pool.query<{ key: unknown[]; kind: RowDifferenceKind; ra: Record<string, unknown> | null; rb: Record<string, unknown> | null }>(
      `${diff} SELECT jsonb_build_array(${keys.join(', ')}) AS key, kind, ra, rb FROM d ORDER BY ${keys.join(', ')} LIMIT $2`,
      [t.exclude, options.samples ?? 20],
    );
    const n = (kind: RowDifferenceKind): number => Number(counts.rows.find((r) => r.kind === kind)?.n ?? 0);
    tables.push({
      table: t.name,
      missing_in_a: n('missing_in_a'),
      missing_in_b: n('missing_in_b'),
      different: n('different'),
      samples: samples.rows.map((r) => ({ kind: r.kind, key: r.key, a: r.ra, b: r.rb })),
    });
  }
  return { equal: tables.every((t) => t.missing_in_a + t.missing_in_b + t.different === 0), tables };
}

/**
 * The rebuild port over PostgreSQL: scratch schemas next to the live read models of `liveSchema`.
 * The schemas' owner creates, renames and drops them; the runtime role fills and compares them.
 */
export class PgReadModelRebuild implements ReadModelRebuild {
  private readonly pool: Pool;
  private readonly ownerPool: Pool;

  constructor(
    pools: { pool: Pool; ownerPool: Pool },
    private readonly liveSchema: string,
    private readonly history: EventHistory,
  ) {
    this.pool = pools.pool;
    this.ownerPool = pools.ownerPool;
  }

  async prepare(schema: string): Promise<void> {
    await migrateReadModels(this.ownerPool, schema);
  }

  projectorFor(schema: string): ReadModelProjector {
    return new ReadModelProjector(this.pool, schema, { history: this.history });
  }

  compareWithLive(schema: string): Promise<ReadModelComparison> {
    return compareReadModels(this.pool, this.liveSchema, schema);
  }

  async catchUpWithLive(schema: string): Promise<CatchUpResult> {
    this.notLive(schema);
    const { rows } = await this.pool.query<{ aggregate_type: string; aggregate_id: string; from_version: number }>(
      `SELECT l.aggregate_type, l.aggregate_id, coalesce(t.version, 0) AS from_version
         FROM ${quoteIdent(this.liveSchema)}.stream_positions l
         LEFT JOIN ${quoteIdent(schema)}.stream_positions t USING (aggregate_type, aggregate_id)
        WHERE t.version IS NULL OR t.version < l.version
        ORDER BY 1, 2`,
    );
    const projector = this.projectorFor(schema);
    const result: CatchUpResult = { streams: rows.length, events: 0, set_aside: 0 };
    const catchUp = async (r: (typeof rows)[number]): Promise<void> => {
      const tail = await this.history.readStream(r.aggregate_type, r.aggregate_id, undefined, r.from_version + 1);
      try {
        result.events += (await projector.apply(tail)).applied;
      } catch (err) {
        // The live models stopped this stream at the same event.
        if (!(err instanceof StreamsNotProjectedError)) throw err;
        result.events += err.result.applied;
        result.set_aside += err.failures.length;
      }
    };
    for (let i = 0; i < rows.length; i += CATCH_UP_PARALLEL) await Promise.all(rows.slice(i, i + CATCH_UP_PARALLEL).map(catchUp));
    return result;
  }

  async switchLive(schema: string, o: { retiredSchema: string; requireEqual: boolean }): Promise<SwitchResult> {
    this.notLive(schema);
    this.notLive(o.retiredSchema);
    return withTransaction(this.ownerPool, async (client) => {
      // Every projection of the live schema holds this lock shared: taking it waits for those in flight and holds back new
      // ones, which after the commit find the live name on the rebuilt tables. Readers are not held back.
      await client.query(switchLockSql('exclusive'), [this.liveSchema]);
      const exists = async (name: string) => (await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [name])).rowCount === 1;
      if (!(await exists(schema)) && (await exists(o.retiredSchema))) {
        // A retry of a switch that committed: done.
        return { switched: true, retired_schema: o.retiredSchema, streams: 0, events: 0, set_aside: 0 };
      }
      const caught = await this.catchUpWithLive(schema);
      const comparison = await compareReadModels(client, this.liveSchema, schema);
      if (o.requireEqual && !comparison.equal) return { ...caught, switched: false, retired_schema: o.retiredSchema, comparison };
      await client.query(`ALTER SCHEMA ${quoteIdent(this.liveSchema)} RENAME TO ${quoteIdent(o.retiredSchema)}`);
      await client.query(`ALTER SCHEMA ${quoteIdent(schema)} RENAME TO ${quoteIdent(this.liveSchema)}`);
      return { ...caught, switched: true, retired_schema: o.retiredSchema, comparison };
    });
  }

  async drop(schema: string): Promise<void> {
    this.notLive(schema);
    await this.ownerPool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
  }

  private notLive(schema: string): void {
    if (schema === this.liveSchema) throw new ReadModelError('REBUILD_TARGET_IS_LIVE', `schema '${schema}' is the live read-model schema`, { schema });
  }
}

/** Streams caught up at once: each reads its tail from the event store, then applies it in its own transaction. */
const CATCH_UP_PARALLEL = 8;

/**
 * Applies stored events to the read models, exactly once per stream version.
 *
 * One transaction per apply() call. Every stream touched by the call has its stream_positions row
 * locked first (created when missing, locked in a fixed order so concurrent callers cannot
 * deadlock); an event at or below the stored version is skipped, the rest are applied in version
 * order and the position is bumped in the same transaction. A retry, a redelivery or a rebuild
 * replaying what was already applied therefore changes nothing.
 *
 * Database lives: DATABASE_DELETED purges the database's classes, instances (tombstones included)
 * and edges, and leaves the database row as a tombstone; DATABASE_CREATED records the new life
 * (its incarnation, see databaseScope). A class, instance or batch event is applied only when it
 * belongs to the database's current, active life; any other is dropped and counted (its position
 * still advances), so a late delivery, a reconciliation or a rebuild can never bring a deleted
 * life's rows back, and the live models and a rebuild in time order end up equal. An event of a
 * life newer than the one projected so far first brings the database's own stream up to date
 * from the history.
 */
import type { Pool, PoolClient } from 'pg';
import { streamKey, type EventEnvelope } from '../../contracts/event-envelope';
import type { EventHistory } from '../../ports/event-history';
import type { EventPayloads, EventType, InstanceData } from '../../domain/events';
import { incarnationOfEvent, isEventType } from '../../domain/events';
import { splitAggregateId } from '../../domain/identifiers';
import { ReadModelError } from '../../ports/read-model-errors';
import { CLAIM_PENDING } from '../../ports/event-store';
import { DEFAULT_READ_MODEL_SCHEMA, switchLockSql } from './read-model-schema';
import { addApplyResult, StreamsNotProjectedError, type ApplyResult, type Projector, type StreamFailure } from '../../ports/projector';
import { isDataError, quoteIdent, withTransaction } from './postgres';
import { crashPoint } from '../../lib/crash-points';

export interface ProjectorOptions {
  /**
   * Where to read a stream's missing predecessors when an event arrives ahead of them (its
   * projection overtook an earlier command's). Without it such a call fails with PROJECTION_GAP
   * and nothing is applied, so the caller's retry finds the gap filled.
   */
  history?: EventHistory;
}

type Known<T extends EventType> = EventEnvelope<EventPayloads[T]> & { event_type: T };

interface StreamSlot {
  type: string;
  id: string;
  events: EventEnvelope[];
}

export class ReadModelProjector implements Projector {
  private readonly s: string;

  constructor(
    private readonly pool: Pool,
    readonly schema: string = DEFAULT_READ_MODEL_SCHEMA,
    private readonly options: ProjectorOptions = {},
  ) {
    this.s = quoteIdent(schema);
  }

  /**
   * Applies the events in one transaction. When the data of one stream fails it (a value
   * PostgreSQL refuses, an event the projector cannot read, a gap the history cannot close), each
   * stream is applied on its own and, within a failing stream, each event, up to the one that
   * fails: the other streams are not held back by it, and the failing stream keeps its order (it
   * stops at the failing event). The call then throws StreamsNotProjectedError, after committing
   * everything else. Errors of the server itself (connection, serialization) fail the whole call.
   */
  async apply(events: readonly EventEnvelope[]): Promise<ApplyResult> {
    if (events.length === 0) return { applied: 0, skipped: 0, filled: 0, dropped: 0 };
    try {
      return await this.applyTogether(events);
    } catch (err) {
      if (!isStreamLocal(err)) throw err;
      return this.applyApart(events, err);
    }
  }

  private async applyTogether(events: readonly EventEnvelope[]): Promise<ApplyResult> {
    for (const e of events) checkEnvelope(e);
    const { order, streams } = arrange(events);
    // Database streams are locked only when an event turns out to be ahead of its database's
    // projected life; then the transaction starts over with them (locks are taken in one order).
    let databases: string[] = [];
    // What the history had to give, read between attempts: never inside the transaction, where a
    // slow S3 would hold a pool connection and the streams' locks (see HistoryReadNeeded).
    const reads = new HistoryReads(this.options.history);
    for (;;) {
      try {
        return await withTransaction(this.pool, async (client) => {
          // First: a blue/green switch waits for this transaction, or this one waits for the switch
          // and then resolves the schema's name to the rebuilt tables.
          await client.query(switchLockSql('shared'), [this.schema]);
          const run = new ApplyRun(client, this.s, reads);
          await run.lockStreams(withDatabaseStreams(streams, databases));
          await run.lockDatabases(events);
          for (const e of order) await run.applyInOrder(e);
          crashPoint(
            'inside-projection',
            streams.map((slot) => slot.id),
          );
          await run.savePositions();
          return run.result;
        });
      } catch (err) {
        if (err instanceof HistoryReadNeeded) {
          await reads.read(err.request);
          continue;
        }
        if (!(err instanceof DatabaseLockNeeded) || databases.includes(err.db)) throw err;
        databases = [...databases, err.db];
      }
    }
  }

  private async applyApart(events: readonly EventEnvelope[], first: unknown): Promise<ApplyResult> {
    const total: ApplyResult = { applied: 0, skipped: 0, filled: 0, dropped: 0 };
    const add = (r: ApplyResult) => addApplyResult(total, r);
    const streams = new Map<string, EventEnvelope[]>();
    for (const e of events) {
      const key = streamKey(String(e?.aggregate_type), String(e?.aggregate_id));
      streams.set(key, [...(streams.get(key) ?? []), e]);
    }
    const failures: StreamFailure[] = [];
    // With a single stream there is nothing to protect: its caller gets the projector's own error.
    if (streams.size === 1 && first instanceof ReadModelError) throw first;
    for (const stream of streams.values()) {
      if (streams.size === 1 && stream.length === 1) {
        failures.push(failureOf(stream[0], first));
        break;
      }
      try {
        add(await this.applyTogether(stream));
        continue;
      } catch (err) {
        if (!isStreamLocal(err)) throw err;
        if (stream.length === 1) {
          failures.push(failureOf(stream[0], err));
          continue;
        }
      }
      const ordered = [...stream].sort((a, b) => Number(a?.aggregate_version) - Number(b?.aggregate_version));
      for (const e of ordered) {
        try {
          add(await this.applyTogether([e]));
        } catch (err) {
          if (!isStreamLocal(err)) throw err;
          failures.push(failureOf(e, err));
          break;
        }
      }
    }
    if (failures.length) throw new StreamsNotProjectedError(failures, total);
    return total;
  }
}

/** A failure that belongs to the data of a stream, so the other streams may go on without it. */
function isStreamLocal(err: unknown): boolean {
  return isDataError(err) || err instanceof ReadModelError;
}

function failureOf(e: EventEnvelope, err: unknown): StreamFailure {
  const code = err instanceof ReadModelError ? err.code : 'EVENT_NOT_PROJECTABLE';
  const reason = err instanceof ReadModelError ? err.code : `SQLSTATE ${String((err as { code?: unknown }).code)}`;
  return {
    code,
    aggregate_type: String(e?.aggregate_type),
    aggregate_id: String(e?.aggregate_id),
    event_id: String(e?.event_id),
    aggregate_version: Number(e?.aggregate_version),
    reason,
    error: err,
  };
}

/** Raised inside a transaction that needs events of the history it has not read yet: read them outside, then start over. */
class HistoryReadNeeded extends Error {
  constructor(readonly request: HistoryRequest) {
    super(`history of ${request.type}/${request.id} from v${request.from} needed`);
  }
}

interface HistoryRequest {
  type: string;
  id: string;
  from: number;
  to: number | undefined;
}

/** A call reads each stretch at most once; positions moved by a concurrent call may ask for more, up to this. */
const MAX_HISTORY_READS = 32;

const requestKey = (r: HistoryRequest) => `${streamKey(r.type, r.id)}\u0000${r.from}\u0000${r.to ?? ''}`;

/** The history reads of one apply() call, made outside its transaction. */
class HistoryReads {
  private readonly done = new Map<string, EventEnvelope[]>();
  private count = 0;

  constructor(readonly history: EventHistory | undefined) {}

  async read(r: HistoryRequest): Promise<void> {
    if (++this.count > MAX_HISTORY_READS) {
      throw new ReadModelError('PROJECTION_GAP', `${r.type}/${r.id}: its projected position kept moving while its history was read`, { aggregate_type: r.type, aggregate_id: r.id });
    }
    this.done.set(requestKey(r), await this.history!.readStream(r.type, r.id, r.to, r.from));
  }

  /** The events read for this request, or HistoryReadNeeded to read them first. */
  get(r: HistoryRequest): EventEnvelope[] {
    const events = this.done.get(requestKey(r));
    if (events === undefined) throw new HistoryReadNeeded(r);
    return events;
  }
}

/** Raised inside a transaction that must catch a database's stream up but does not hold its lock. */
class DatabaseLockNeeded extends Error {
  constructor(readonly db: string) {
    super(`the stream of database '${db}' must be locked`);
  }
}

function withDatabaseStreams(streams: StreamSlot[], databases: string[]): StreamSlot[] {
  const extra = databases.filter((db) => !streams.some((x) => x.type === 'database' && x.id === db)).map((db): StreamSlot => ({ type: 'database', id: db, events: [] }));
  return [...streams, ...extra];
}

/**
 * Keeps the caller's interleaving of streams (a rebuild passes time order) but puts each stream's
 * own events in version order, so a caller handing over [v2, v1] of one stream is not mistaken
 * for a gap.
 */
function arrange(events: readonly EventEnvelope[]): { order: EventEnvelope[]; streams: StreamSlot[] } {
  const byStream = new Map<string, StreamSlot>();
  const slots: StreamSlot[] = [];
  for (const e of events) {
    const key = streamKey(e.aggregate_type, e.aggregate_id);
    let slot = byStream.get(key);
    if (slot === undefined) {
      slot = { type: e.aggregate_type, id: e.aggregate_id, events: [] };
      byStream.set(key, slot);
    }
    slot.events.push(e);
    slots.push(slot);
  }
  const sorted = new Map<StreamSlot, EventEnvelope[]>();
  for (const slot of byStream.values())
    sorted.set(
      slot,
      [...slot.events].sort((a, b) => a.aggregate_version - b.aggregate_version),
    );
  const order = slots.map((slot) => sorted.get(slot)!.shift()!);
  return { order, streams: [...byStream.values()] };
}

function checkEnvelope(e: EventEnvelope): void {
  const ok =
    typeof e?.aggregate_type === 'string' &&
    typeof e.aggregate_id === 'string' &&
    typeof e.event_type === 'string' &&
    Number.isSafeInteger(e.aggregate_version) &&
    e.aggregate_version >= 1 &&
    !Number.isNaN(Date.parse(e.occurred_at));
  if (!ok) {
    throw new ReadModelError('INVALID_EVENT', 'not a stored event envelope', {
      event_id: e?.event_id,
      aggregate_type: e?.aggregate_type,
      aggregate_id: e?.aggregate_id,
      aggregate_version: e?.aggregate_version,
    });
  }
}

function invalid(e: EventEnvelope, why: string): never {
  throw new ReadModelError('INVALID_EVENT', `${e.event_type} ${e.aggregate_type}/${e.aggregate_id} v${e.aggregate_version}: ${why}`, {
    event_id: e.event_id,
  });
}

const dbOf = (e: EventEnvelope): string => {
  const p = e.payload as { db_name?: unknown } | null;
  return typeof p?.db_name === 'string' ? p.db_name : splitAggregateId(e.aggregate_id).db;
};

const SCOPED_TYPES = new Set(['ontology_class', 'instance', 'instance_batch']);

/** A database's life as projected: the incarnation of its last DATABASE_CREATED, and whether it was deleted since. */
interface DatabaseLife {
  incarnation: number;
  active: boolean;
}

/** The state of one apply() call inside its transaction. */
class ApplyRun {
  readonly result: ApplyResult = { applied: 0, skipped: 0, filled: 0, dropped: 0 };
  private readonly positions = new Map<string, number>();
  private readonly changed = new Set<string>();
  /** The projected life of each database this call touches; null while no event of it was projected. */
  private readonly lives = new Map<string, DatabaseLife | null>();

  constructor(
    private readonly client: PoolClient,
    private readonly s: string,
    private readonly reads: HistoryReads,
  ) {}

  async lockStreams(streams: StreamSlot[]): Promise<void> {
    const types = streams.map((x) => x.type);
    const ids = streams.map((x) => x.id);
    await this.client.query(
      `INSERT INTO ${this.s}.stream_positions (aggregate_type, aggregate_id, version)
       SELECT t, i, 0 FROM unnest($1::text[], $2::text[]) AS u(t, i) ORDER BY t, i
       ON CONFLICT DO NOTHING`,
      [types, ids],
    );
    const { rows } = await this.client.query<{ aggregate_type: string; aggregate_id: string; version: number }>(
      `SELECT p.aggregate_type, p.aggregate_id, p.version
         FROM ${this.s}.stream_positions p
         JOIN unnest($1::text[], $2::text[]) AS u(t, i) ON p.aggregate_type = u.t AND p.aggregate_id = u.i
        ORDER BY p.aggregate_type, p.aggregate_id
        FOR UPDATE OF p`,
      [types, ids],
    );
    for (const r of rows) this.positions.set(streamKey(r.aggregate_type, r.aggregate_id), r.version);
  }

  /**
   * FOR SHARE on the database rows makes a concurrent DATABASE_DELETED wait for this call (its
   * purge then sees our rows) or makes this call wait for it (and then see the life it ended).
   */
  async lockDatabases(events: readonly EventEnvelope[]): Promise<void> {
    const names = [...new Set(events.filter((e) => SCOPED_TYPES.has(e.aggregate_type)).map(dbOf))].sort();
    for (const n of names) this.lives.set(n, null);
    if (names.length === 0) return;
    const { rows } = await this.client.query<{ name: string; status: string; incarnation: number }>(
      `SELECT name, status, incarnation FROM ${this.s}.databases WHERE name = ANY($1::text[]) ORDER BY name FOR SHARE`,
      [names],
    );
    for (const r of rows) this.lives.set(r.name, { incarnation: r.incarnation, active: r.status === 'active' });
  }

  async applyInOrder(e: EventEnvelope): Promise<void> {
    const key = streamKey(e.aggregate_type, e.aggregate_id);
    const current = this.positions.get(key) ?? 0;
    if (e.aggregate_version <= current) {
      this.result.skipped++;
      return;
    }
    if (e.aggregate_version > current + 1) await this.fillGap(e, current);
    if (await this.applyOne(e)) this.result.applied++;
    else this.result.dropped++;
    this.positions.set(key, e.aggregate_version);
    this.changed.add(key);
  }

  private async fillGap(e: EventEnvelope, current: number): Promise<void> {
    const gap = { aggregate_type: e.aggregate_type, aggregate_id: e.aggregate_id, projected: current, arrived: e.aggregate_version };
    if (this.reads.history === undefined) {
      throw new ReadModelError('PROJECTION_GAP', `${e.aggregate_type}/${e.aggregate_id}: v${e.aggregate_version} arrived before v${current + 1}`, gap);
    }
    const missing = this.reads
      .get({ type: e.aggregate_type, id: e.aggregate_id, to: e.aggregate_version - 1, from: current + 1 })
      .filter((m) => m.aggregate_version > current && m.aggregate_version < e.aggregate_version);
    // An undecided claim (see CLAIM_PENDING in the event store) has no content yet: retry later.
    if (missing.some((m) => m.event_type === CLAIM_PENDING)) {
      throw new ReadModelError('PROJECTION_GAP', `${e.aggregate_type}/${e.aggregate_id}: a claim before v${e.aggregate_version} is undecided`, gap);
    }
    missing.forEach((m, i) => {
      if (m.aggregate_version !== current + 1 + i) {
        throw new ReadModelError('PROJECTION_GAP', `${e.aggregate_type}/${e.aggregate_id}: the history lacks v${current + 1 + i}`, gap);
      }
    });
    if (missing.length !== e.aggregate_version - current - 1) {
      throw new ReadModelError('PROJECTION_GAP', `${e.aggregate_type}/${e.aggregate_id}: the history ends before v${e.aggregate_version - 1}`, gap);
    }
    for (const m of missing) {
      checkEnvelope(m);
      if (await this.applyOne(m)) this.result.filled++;
      else this.result.dropped++;
    }
  }

  /**
   * Whether a class/instance/batch event belongs to its database's current, active life. An event
   * of a newer life than the one projected so far first catches the database's stream up (its
   * DATABASE_DELETED and DATABASE_CREATED may still be on their way).
   */
  private async isCurrentLife(e: EventEnvelope): Promise<boolean> {
    const db = dbOf(e);
    const incarnation = incarnationOfEvent(e);
    let life = this.lives.get(db) ?? null;
    if (life === null || life.incarnation < incarnation) {
      await this.catchUpDatabase(db, e);
      life = this.lives.get(db) ?? null;
      if (life === null || life.incarnation < incarnation) {
        throw new ReadModelError('PROJECTION_GAP', `${e.aggregate_type}/${e.aggregate_id}: life ${incarnation} of database '${db}' is not in its history`, {
          aggregate_type: e.aggregate_type,
          aggregate_id: e.aggregate_id,
          db_incarnation: incarnation,
        });
      }
    }
    return life.active && life.incarnation === incarnation;
  }

  /** Applies the database's own events that are stored but not projected yet. */
  private async catchUpDatabase(db: string, e: EventEnvelope): Promise<void> {
    const key = streamKey('database', db);
    const current = this.positions.get(key);
    if (current === undefined) throw new DatabaseLockNeeded(db);
    if (this.reads.history === undefined) {
      throw new ReadModelError('PROJECTION_GAP', `${e.aggregate_type}/${e.aggregate_id}: its life of database '${db}' is not projected yet`, {
        aggregate_type: e.aggregate_type,
        aggregate_id: e.aggregate_id,
        database: db,
        projected: current,
      });
    }
    const missing = this.reads.get({ type: 'database', id: db, to: undefined, from: current + 1 }).filter((m) => m.aggregate_version > current);
    let version = current;
    for (const m of missing) {
      if (m.aggregate_version !== version + 1) break;
      checkEnvelope(m);
      await this.applyOne(m);
      this.result.filled++;
      version = m.aggregate_version;
    }
    if (version !== current) {
      this.positions.set(key, version);
      this.changed.add(key);
    }
  }

  async savePositions(): Promise<void> {
    if (this.changed.size === 0) return;
    const keys = [...this.changed].map((k) => k.split('\u0000') as [string, string]);
    await this.client.query(
      `UPDATE ${this.s}.stream_positions p SET version = u.v
         FROM unnest($1::text[], $2::text[], $3::int[]) AS u(t, i, v)
        WHERE p.aggregate_type = u.t AND p.aggregate_id = u.i`,
      [keys.map((k) => k[0]), keys.map((k) => k[1]), keys.map((k) => this.positions.get(streamKey(k[0], k[1])))],
    );
  }

  /** false when the event was dropped: it belongs to a database life that is not the current one. */
  private async applyOne(e: EventEnvelope): Promise<boolean> {
    // unknown types were written by a newer version: their position advances, nothing else
    if (!isEventType(e.event_type)) return true;
    if (typeof e.payload !== 'object' || e.payload === null) invalid(e, 'payload is not an object');
    if (SCOPED_TYPES.has(e.aggregate_type) && !(await this.isCurrentLife(e))) return false;
    await this.project(e);
    return true;
  }

  private async project(e: EventEnvelope): Promise<void> {
    switch (e.event_type) {
      case 'DATABASE_CREATED':
        return this.databaseCreated(e as Known<'DATABASE_CREATED'>);
      case 'DATABASE_DELETED':
        return this.databaseDeleted(e as Known<'DATABASE_DELETED'>);
      case 'ONTOLOGY_CLASS_CREATED':
      case 'ONTOLOGY_CLASS_UPDATED':
        return this.classPut(e as Known<'ONTOLOGY_CLASS_CREATED'>);
      case 'ONTOLOGY_CLASS_DELETED':
        return this.classDeleted(e as Known<'ONTOLOGY_CLASS_DELETED'>);
      case 'INSTANCE_CREATED':
      case 'INSTANCE_UPDATED':
        return this.instancePut(e as Known<'INSTANCE_CREATED'>);
      case 'INSTANCE_DELETED':
        return this.instanceDeleted(e as Known<'INSTANCE_DELETED'>);
      case 'INSTANCES_BULK_CREATED':
        return this.bulkCreated(e as Known<'INSTANCES_BULK_CREATED'>);
    }
  }

  private async databaseCreated(e: Known<'DATABASE_CREATED'>): Promise<void> {
    const name = e.payload.name ?? e.aggregate_id;
    // the new life's incarnation is the version of the event that begins it
    await this.client.query(
      `INSERT INTO ${this.s}.databases (name, description, status, version, incarnation, created_at, updated_at)
       VALUES ($1, $2, 'active', $3, $3, $4, $4)
       ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description, status = 'active', version = EXCLUDED.version,
         incarnation = EXCLUDED.incarnation, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at`,
      [name, e.payload.description ?? null, e.aggregate_version, e.occurred_at],
    );
    this.lives.set(name, { incarnation: e.aggregate_version, active: true });
  }

  private async databaseDeleted(e: Known<'DATABASE_DELETED'>): Promise<void> {
    const name = e.payload.name ?? e.aggregate_id;
    await this.client.query(
      `INSERT INTO ${this.s}.databases (name, description, status, version, incarnation, created_at, updated_at, deleted_at)
       VALUES ($1, NULL, 'deleted', $2, $2 - 1, $3, $3, $3)
       ON CONFLICT (name) DO UPDATE SET status = 'deleted', version = EXCLUDED.version,
         updated_at = EXCLUDED.updated_at, deleted_at = EXCLUDED.deleted_at`,
      [name, e.aggregate_version, e.occurred_at],
    );
    for (const table of ['edges', 'instances', 'classes']) {
      await this.client.query(`DELETE FROM ${this.s}.${table} WHERE db_name = $1`, [name]);
    }
    const life = this.lives.get(name);
    this.lives.set(name, { incarnation: life?.incarnation ?? e.aggregate_version - 1, active: false });
  }

  private async classPut(e: Known<'ONTOLOGY_CLASS_CREATED'> | Known<'ONTOLOGY_CLASS_UPDATED'>): Promise<void> {
    const d = e.payload.definition;
    if (typeof d?.id !== 'string') invalid(e, 'no class definition');
    const isCreate = e.event_type === 'ONTOLOGY_CLASS_CREATED';
    await this.client.query(
      `INSERT INTO ${this.s}.classes
         (db_name, class_id, label, description, parent_class, abstract, definition, version, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $9)
       ON CONFLICT (db_name, class_id) DO UPDATE SET label = EXCLUDED.label, description = EXCLUDED.description,
         parent_class = EXCLUDED.parent_class, abstract = EXCLUDED.abstract, definition = EXCLUDED.definition,
         version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
         created_at = CASE WHEN $10 THEN EXCLUDED.created_at ELSE ${this.s}.classes.created_at END`,
      [e.payload.db_name, d.id, d.label ?? d.id, d.description ?? null, d.parent_class ?? null, d.abstract === true, JSON.stringify(d), e.aggregate_version, e.occurred_at, isCreate],
    );
  }

  private async classDeleted(e: Known<'ONTOLOGY_CLASS_DELETED'>): Promise<void> {
    const classId = e.payload.class_id ?? splitAggregateId(e.aggregate_id).id;
    await this.client.query(`DELETE FROM ${this.s}.classes WHERE db_name = $1 AND class_id = $2`, [e.payload.db_name, classId]);
  }

  private async instancePut(e: Known<'INSTANCE_CREATED'> | Known<'INSTANCE_UPDATED'>): Promise<void> {
    const i = e.payload.instance;
    if (typeof i?.id !== 'string' || typeof i.class_id !== 'string') invalid(e, 'no instance');
    const db = e.payload.db_name;
    // a create after a delete starts a new life: it takes the create's time as created_at
    const isCreate = e.event_type === 'INSTANCE_CREATED';
    await this.client.query(
      `INSERT INTO ${this.s}.instances
         (db_name, instance_id, class_id, properties, relationships, version, deleted, created_at, updated_at)
       VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, false, $7, $7)
       ON CONFLICT (db_name, instance_id) DO UPDATE SET class_id = EXCLUDED.class_id, properties = EXCLUDED.properties,
         relationships = EXCLUDED.relationships, version = EXCLUDED.version, deleted = false, updated_at = EXCLUDED.updated_at,
         created_at = CASE WHEN $8 OR ${this.s}.instances.deleted THEN EXCLUDED.created_at ELSE ${this.s}.instances.created_at END`,
      [db, i.id, i.class_id, JSON.stringify(i.properties ?? {}), JSON.stringify(i.relationships ?? {}), e.aggregate_version, e.occurred_at, isCreate],
    );
    await this.client.query(`DELETE FROM ${this.s}.edges WHERE db_name = $1 AND from_id = $2`, [db, i.id]);
    await this.client.query(
      `INSERT INTO ${this.s}.edges (db_name, from_id, predicate, to_id)
       SELECT $1, $2, r.key, t.to_id
         FROM jsonb_each($3::jsonb) AS r
        CROSS JOIN LATERAL jsonb_array_elements_text(
          CASE WHEN jsonb_typeof(r.value) = 'array' THEN r.value ELSE jsonb_build_array(r.value) END) AS t(to_id)
       ON CONFLICT DO NOTHING`,
      [db, i.id, JSON.stringify(i.relationships ?? {})],
    );
  }

  private async instanceDeleted(e: Known<'INSTANCE_DELETED'>): Promise<void> {
    const db = e.payload.db_name;
    const id = e.payload.instance_id ?? splitAggregateId(e.aggregate_id).id;
    await this.client.query(
      `INSERT INTO ${this.s}.instances
         (db_name, instance_id, class_id, properties, relationships, version, deleted, created_at, updated_at)
       VALUES ($1, $2, $3, '{}', '{}', $4, true, $5, $5)
       ON CONFLICT (db_name, instance_id) DO UPDATE SET properties = '{}', relationships = '{}', version = EXCLUDED.version,
         deleted = true, updated_at = EXCLUDED.updated_at`,
      [db, id, e.payload.class_id, e.aggregate_version, e.occurred_at],
    );
    await this.client.query(`DELETE FROM ${this.s}.edges WHERE db_name = $1 AND from_id = $2`, [db, id]);
  }

  /** The edges of the instances a batch statement wrote: its CTEs `r` (the rows) and `written`, db_name in $2. */
  private edgesOfWritten(): string {
    return `INSERT INTO ${this.s}.edges (db_name, from_id, predicate, to_id)
       SELECT $2, r.id, rel.key, t.to_id
         FROM r JOIN written w ON w.instance_id = r.id
        CROSS JOIN LATERAL jsonb_each(r.relationships) AS rel
        CROSS JOIN LATERAL jsonb_array_elements_text(
          CASE WHEN jsonb_typeof(rel.value) = 'array' THEN rel.value ELSE jsonb_build_array(rel.value) END) AS t(to_id)
       ON CONFLICT DO NOTHING`;
  }

  /**
   * A batch whose instances claimed versions on their own streams: each instance's creation is
   * that version of its stream. An instance is written only where its stream's projected position
   * is below the claim (an instance event projected first, through the claim, already holds newer
   * data), and the position moves up to the claim, so the stream continues after it without a gap.
   */
  private async bulkClaimed(e: Known<'INSTANCES_BULK_CREATED'>): Promise<void> {
    const p = e.payload;
    const claims = p.claims!;
    if (claims.length !== p.instances.length) invalid(e, 'claims and instances differ in number');
    const rows = batchRows(p)
      .map((row, n) => ({ ...row, stream_id: claims[n].aggregate_id, version: claims[n].version }))
      .sort((a, b) => (a.stream_id < b.stream_id ? -1 : a.stream_id > b.stream_id ? 1 : 0));
    await this.client.query(
      `WITH r AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb)
           AS r(id text, class_id text, properties jsonb, relationships jsonb, stream_id text, version integer)
       ), pos AS (
         INSERT INTO ${this.s}.stream_positions AS sp (aggregate_type, aggregate_id, version)
         SELECT 'instance', r.stream_id, r.version FROM r ORDER BY r.stream_id
         ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = EXCLUDED.version WHERE sp.version < EXCLUDED.version
         RETURNING aggregate_id
       ), written AS (
         INSERT INTO ${this.s}.instances AS x
           (db_name, instance_id, class_id, properties, relationships, version, deleted,
            batch_aggregate_id, batch_version, created_at, updated_at)
         SELECT $2, r.id, r.class_id, r.properties, r.relationships, r.version, false, $3, $4, $5, $5
           FROM r JOIN pos ON pos.aggregate_id = r.stream_id
         ON CONFLICT (db_name, instance_id) DO UPDATE SET class_id = EXCLUDED.class_id, properties = EXCLUDED.properties,
           relationships = EXCLUDED.relationships, version = EXCLUDED.version, deleted = false,
           batch_aggregate_id = EXCLUDED.batch_aggregate_id, batch_version = EXCLUDED.batch_version,
           created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
         RETURNING instance_id
       )
       ${this.edgesOfWritten()}`,
      [JSON.stringify(rows), p.db_name, e.aggregate_id, e.aggregate_version, e.occurred_at],
    );
  }

  /**
   * One statement for the whole batch: the instances come in as one jsonb array, are inserted
   * from jsonb_to_recordset, and their edges derived from the rows actually written. Version 0:
   * the instances' own streams are still empty; batch_* lets the loader find their data. A
   * conflicting tombstone is revived in place, keeping the version its stream has reached.
   */
  private async bulkCreated(e: Known<'INSTANCES_BULK_CREATED'>): Promise<void> {
    const p = e.payload;
    if (!Array.isArray(p.instances)) invalid(e, 'no instances');
    if (Array.isArray(p.claims)) return this.bulkClaimed(e);
    const rows = batchRows(p);
    await this.client.query(
      `WITH r AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id text, class_id text, properties jsonb, relationships jsonb)
       ), written AS (
         INSERT INTO ${this.s}.instances AS x
           (db_name, instance_id, class_id, properties, relationships, version, deleted,
            batch_aggregate_id, batch_version, created_at, updated_at)
         SELECT $2, r.id, r.class_id, r.properties, r.relationships, 0, false, $3, $4, $5, $5 FROM r
         ON CONFLICT (db_name, instance_id) DO UPDATE SET class_id = EXCLUDED.class_id, properties = EXCLUDED.properties,
           relationships = EXCLUDED.relationships, deleted = false, batch_aggregate_id = EXCLUDED.batch_aggregate_id,
           batch_version = EXCLUDED.batch_version, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at
           WHERE x.deleted
         RETURNING instance_id
       )
       ${this.edgesOfWritten()}`,
      [JSON.stringify(rows), p.db_name, e.aggregate_id, e.aggregate_version, e.occurred_at],
    );
  }
}

/** A batch's instances as the rows its statement reads from jsonb_to_recordset. */
function batchRows(p: EventPayloads['INSTANCES_BULK_CREATED']): Array<{ id: string; class_id: string; properties: object; relationships: object }> {
  return p.instances.map((i: InstanceData) => ({ id: i.id, class_id: i.class_id ?? p.class_id, properties: i.properties ?? {}, relationships: i.relationships ?? {} }));
}

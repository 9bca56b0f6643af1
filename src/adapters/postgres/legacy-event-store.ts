/**
 * The old design's event store: events as rows of PostgreSQL (legacy_events), used by the legacy
 * and dual_write storage modes and as the source of the backfill into S3. Optimistic concurrency
 * rests on the unique (aggregate_type, aggregate_id, aggregate_version) constraint.
 */
import type { Pool } from 'pg';
import { currentEnvelope, streamKey, type EventEnvelope, type StoredEvent } from '../../contracts/event-envelope';
import {
  AppendedEvent,
  AppendOptions,
  AppendResult,
  ClaimDecision,
  claimedBy,
  CommandMark,
  CommandRecord,
  commandStoredError,
  EventIdReusedError,
  EventStore,
  ExpectedVersion,
  InvalidEventError,
  ReadAllOptions,
  ReadAllResult,
  ReadStreamOptions,
  resolveClaim,
  StreamId,
  VersionConflictError,
} from '../../ports/event-store';
import { DEFAULT_SCHEMA } from './migrations';
import { afterCursorSql, GlobalCursor, isUniqueViolation, Queryable, quoteIdent, START_CURSOR } from './postgres';

export interface LegacyAppendedEvent extends AppendedEvent {
  /** Global position in legacy_events. */
  position: number;
}

/** Envelope fields without a column of their own travel in the metadata column under these keys. */
const ENVELOPE_KEYS = ['command_id', 'actor', 'schema_version'] as const;

const COLUMNS = `position, transaction_id::text AS transaction_id, event_id, aggregate_type, aggregate_id, aggregate_version,
  event_type, payload, metadata, occurred_at`;

/** Concurrent 'any' appends race for the same next version; the loser recomputes it. */
const MAX_ANY_ATTEMPTS = 20;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- pg rows are untyped; columns are read by name
type DbRow = Record<string, any>;

function toEnvelope(r: DbRow): EventEnvelope {
  const { command_id, actor, schema_version, ...metadata } = r.metadata ?? {};
  return currentEnvelope({
    event_id: r.event_id,
    event_type: r.event_type,
    aggregate_type: r.aggregate_type,
    aggregate_id: r.aggregate_id,
    aggregate_version: r.aggregate_version,
    occurred_at: new Date(r.occurred_at).toISOString(),
    // Rows written by the old design may lack the newer envelope fields.
    actor: actor ?? 'legacy',
    command_id: command_id ?? '',
    schema_version: schema_version ?? 1,
    payload: r.payload,
    metadata: { storage_mode: 'legacy', ...metadata },
  });
}

function encodeCheckpoint(c: GlobalCursor): string {
  return `${c.transactionId}:${c.position}`;
}

function decodeCheckpoint(s: string | undefined): GlobalCursor {
  if (s === undefined) return START_CURSOR;
  const m = /^(\d{1,20}):(\d{1,16})$/.exec(s);
  if (!m) throw new InvalidEventError(`not a legacy store checkpoint: ${JSON.stringify(s).slice(0, 100)}`);
  return { transactionId: m[1], position: Number(m[2]) };
}

export class LegacyPgEventStore implements EventStore {
  private readonly table: string;
  private readonly commands: string;

  constructor(
    private readonly pool: Pool,
    schema: string = DEFAULT_SCHEMA,
  ) {
    this.table = `${quoteIdent(schema)}.legacy_events`;
    this.commands = `${quoteIdent(schema)}.legacy_commands`;
  }

  /**
   * Appends events at the versions following the stream's end, which must match expectedVersion.
   * The version check and the insert are one statement: two writers at the same version both pass
   * the check and the unique constraint lets exactly one in. Appending events already stored with
   * the same content (a retried activity) returns their stored versions without writing. The
   * command marker (options.command) is inserted by the same statement, so it exists exactly when
   * the command's events do.
   */
  async append(stream: StreamId, expectedVersion: ExpectedVersion, events: EventEnvelope[], options: AppendOptions = {}, db: Queryable = this.pool): Promise<AppendResult<LegacyAppendedEvent>> {
    validate(stream, expectedVersion, events);
    if (events.length === 0) {
      const current = await this.currentVersion(stream, db);
      checkExpected(stream, expectedVersion, current);
      return { events: [], nextExpectedVersion: current };
    }
    for (let attempt = 1; ; attempt++) {
      const inserted = await this.tryInsert(stream, expectedVersion, events, options.command, db);
      if (inserted) return inserted;
      if (options.command) {
        const record = await this.findCommand(options.command.command_id, db);
        if (record) throw commandStoredError(record, options.command);
      }
      const retried = await this.alreadyStored(stream, events, db);
      if (retried) return retried;
      const current = await this.currentVersion(stream, db);
      if (expectedVersion !== 'any' || attempt >= MAX_ANY_ATTEMPTS) throw new VersionConflictError(stream, expectedVersion, current);
    }
  }

  async readStream(stream: StreamId, options: ReadStreamOptions = {}, db: Queryable = this.pool): Promise<StoredEvent[]> {
    const { rows } = await db.query(
      `SELECT ${COLUMNS} FROM ${this.table}
       WHERE aggregate_type = $1 AND aggregate_id = $2 AND aggregate_version >= $3 AND ($4::int IS NULL OR aggregate_version <= $4)
       ORDER BY aggregate_version`,
      [stream.aggregate_type, stream.aggregate_id, options.fromVersion ?? 1, options.toVersion ?? null],
    );
    return this.resolved(rows.map(toEnvelope), db);
  }

  /**
   * Many streams' events in one query (what a verify compares a page of streams with): each
   * stream's events in version order, under its `streamKey`; a stream without events is absent.
   */
  async readStreams(streams: StreamId[], db: Queryable = this.pool): Promise<Map<string, StoredEvent[]>> {
    const { rows } = await db.query(
      `SELECT ${COLUMNS} FROM ${this.table} t JOIN unnest($1::text[], $2::text[]) AS s(type, id) ON t.aggregate_type = s.type AND t.aggregate_id = s.id
       ORDER BY t.aggregate_type, t.aggregate_id, t.aggregate_version`,
      [streams.map((s) => s.aggregate_type), streams.map((s) => s.aggregate_id)],
    );
    const out = new Map<string, StoredEvent[]>();
    for (const e of await this.resolved(rows.map(toEnvelope), db)) {
      const key = streamKey(e.envelope.aggregate_type, e.envelope.aggregate_id);
      const list = out.get(key);
      if (list) list.push(e);
      else out.set(key, [e]);
    }
    return out;
  }

  /** Claim entries under their command's decision (see resolveClaim). */
  private async resolved(envelopes: EventEnvelope[], db: Queryable): Promise<StoredEvent[]> {
    const claimants = [...new Set(envelopes.map(claimedBy).filter((c): c is string => c !== undefined))];
    if (claimants.length === 0) return envelopes.map((envelope) => ({ envelope }));
    const decided = await db.query(`SELECT command_id, decision FROM ${this.commands} WHERE command_id = ANY($1::text[])`, [claimants]);
    const decisions = new Map<string, ClaimDecision>(decided.rows.map((r) => [r.command_id, r.decision]));
    return envelopes.map((e) => {
      const by = claimedBy(e);
      return { envelope: by === undefined ? e : resolveClaim(e, decisions.get(by)) };
    });
  }

  async claim(entry: EventEnvelope): Promise<'claimed' | 'taken'> {
    const stream = { aggregate_type: entry.aggregate_type, aggregate_id: entry.aggregate_id };
    validate(stream, 0, [entry]);
    if (claimedBy(entry) === undefined) throw new InvalidEventError('a claim entry names its command in metadata.claimed_by');
    const { rows } = await this.pool.query(
      `INSERT INTO ${this.table} (event_id, aggregate_type, aggregate_id, aggregate_version, event_type, payload, metadata, occurred_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8) ON CONFLICT DO NOTHING RETURNING position`,
      [
        entry.event_id,
        entry.aggregate_type,
        entry.aggregate_id,
        entry.aggregate_version,
        entry.event_type,
        JSON.stringify(entry.payload ?? null),
        JSON.stringify(metadataOf(entry)),
        entry.occurred_at,
      ],
    );
    return rows.length === 1 ? 'claimed' : 'taken';
  }

  async decideClaims(commandId: string, decision: ClaimDecision, mark: { request_hash: string; stream: StreamId }): Promise<ClaimDecision> {
    await this.pool.query(
      `INSERT INTO ${this.commands} (command_id, request_hash, aggregate_type, aggregate_id, first_version, event_ids, decision)
       VALUES ($1, $2, $3, $4, 1, '{}', $5) ON CONFLICT DO NOTHING`,
      [commandId, mark.request_hash, mark.stream.aggregate_type, mark.stream.aggregate_id, decision],
    );
    const { rows } = await this.pool.query(`SELECT decision FROM ${this.commands} WHERE command_id = $1`, [commandId]);
    if (!rows[0]?.decision) throw new InvalidEventError(`command ${commandId} was recorded without a claim decision`);
    return rows[0].decision;
  }

  async findCommand(commandId: string, db: Queryable = this.pool): Promise<CommandRecord | undefined> {
    const { rows } = await db.query(`SELECT * FROM ${this.commands} WHERE command_id = $1`, [commandId]);
    const m = rows[0];
    if (!m || m.decision) return undefined;
    const stream = { aggregate_type: m.aggregate_type, aggregate_id: m.aggregate_id };
    const events = await this.readStream(stream, { fromVersion: m.first_version, toVersion: m.first_version + m.event_ids.length - 1 }, db);
    return { command_id: m.command_id, request_hash: m.request_hash, stream, events };
  }

  async aggregateAt(stream: StreamId, version: number): Promise<StoredEvent[]> {
    if (version <= 0) return [];
    return this.readStream(stream, { fromVersion: 1, toVersion: version });
  }

  async currentVersion(stream: StreamId, db: Queryable = this.pool): Promise<number> {
    const { rows } = await db.query(`SELECT coalesce(max(aggregate_version), 0)::int AS v FROM ${this.table} WHERE aggregate_type = $1 AND aggregate_id = $2`, [
      stream.aggregate_type,
      stream.aggregate_id,
    ]);
    return rows[0].v;
  }

  /**
   * All events in global position order (the backfill's source). Unlike the S3 store (time order),
   * the checkpoint is "transaction id:position", so events of a transaction still in flight are
   * never skipped (see afterCursorSql).
   */
  async readAll(options: ReadAllOptions = {}, db: Queryable = this.pool): Promise<ReadAllResult & { positions: number[] }> {
    const after = decodeCheckpoint(options.from);
    const limit = options.limit ?? 100;
    const { rows } = await db.query(
      // Claims are not events of their own (see claim()): nothing downstream reads them from here.
      `SELECT ${COLUMNS} FROM ${this.table} WHERE ${afterCursorSql()} AND NOT (metadata ? 'claimed_by') ORDER BY transaction_id, position LIMIT $3`,
      [after.transactionId, after.position, limit + 1],
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      events: page.map((r) => ({ envelope: toEnvelope(r) })),
      positions: page.map((r) => Number(r.position)),
      checkpoint: last ? encodeCheckpoint({ transactionId: last.transaction_id, position: Number(last.position) }) : options.from,
      hasMore: rows.length > limit,
    };
  }

  /** Streams with an event past `from` (a readAll checkpoint): what a backfill from there has still to copy. */
  async streamsAfter(from: string | undefined): Promise<number> {
    const after = decodeCheckpoint(from);
    const { rows } = await this.pool.query(
      `SELECT count(*)::bigint AS n FROM (SELECT DISTINCT aggregate_type, aggregate_id FROM ${this.table} WHERE ${afterCursorSql()} AND NOT (metadata ? 'claimed_by')) s`,
      [after.transactionId, after.position],
    );
    return Number(rows[0].n);
  }

  private async tryInsert(stream: StreamId, expected: ExpectedVersion, events: EventEnvelope[], command: CommandMark | undefined, db: Queryable): Promise<AppendResult<LegacyAppendedEvent> | null> {
    const exact = expected === 'no_stream' ? 0 : typeof expected === 'number' ? expected : null;
    try {
      const { rows } = await db.query(
        `WITH cur AS (
           SELECT coalesce(max(aggregate_version), 0) AS v FROM ${this.table} WHERE aggregate_type = $1 AND aggregate_id = $2),
         ins AS (
           INSERT INTO ${this.table} (event_id, aggregate_type, aggregate_id, aggregate_version, event_type, payload, metadata, occurred_at)
           SELECT u.event_id, $1, $2, cur.v + u.n, u.event_type, u.payload, u.metadata, u.occurred_at
           FROM unnest($3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::timestamptz[])
             WITH ORDINALITY AS u(event_id, event_type, payload, metadata, occurred_at, n)
           CROSS JOIN cur
           WHERE ($8::int IS NULL OR cur.v = $8::int) AND (NOT $9::boolean OR cur.v >= 1)
           ORDER BY u.n
           RETURNING event_id, aggregate_version, position),
         mark AS (
           INSERT INTO ${this.commands} (command_id, request_hash, aggregate_type, aggregate_id, first_version, event_ids)
           SELECT $10::text, $11::text, $1, $2, min(aggregate_version), $3::text[] FROM ins
           WHERE $10::text IS NOT NULL HAVING count(*) > 0)
         SELECT * FROM ins ORDER BY aggregate_version`,
        [
          stream.aggregate_type,
          stream.aggregate_id,
          events.map((e) => e.event_id),
          events.map((e) => e.event_type),
          events.map((e) => JSON.stringify(e.payload ?? null)),
          events.map((e) => JSON.stringify(metadataOf(e))),
          events.map((e) => e.occurred_at),
          exact,
          expected === 'stream_exists',
          command?.command_id ?? null,
          command?.request_hash ?? null,
        ],
      );
      if (rows.length === 0) return null;
      return {
        events: rows.map((r) => ({ event_id: r.event_id, version: r.aggregate_version, position: Number(r.position) })),
        nextExpectedVersion: rows[rows.length - 1].aggregate_version,
      };
    } catch (err) {
      if (isUniqueViolation(err)) return null;
      throw err;
    }
  }

  /** The events of a retried append, if all of them are stored already with the same content. */
  private async alreadyStored(stream: StreamId, events: EventEnvelope[], db: Queryable): Promise<AppendResult<LegacyAppendedEvent> | null> {
    const { rows } = await db.query(
      `SELECT l.event_id, l.aggregate_type, l.aggregate_id, l.aggregate_version, l.position,
              (l.aggregate_type = $1 AND l.aggregate_id = $2 AND l.event_type = u.event_type AND l.payload = u.payload) AS same
       FROM unnest($3::text[], $4::text[], $5::jsonb[]) AS u(event_id, event_type, payload)
       JOIN ${this.table} l ON l.event_id = u.event_id`,
      [stream.aggregate_type, stream.aggregate_id, events.map((e) => e.event_id), events.map((e) => e.event_type), events.map((e) => JSON.stringify(e.payload ?? null))],
    );
    const reused = rows.find((r) => !r.same);
    if (reused) {
      throw new EventIdReusedError(reused.event_id, { aggregate_type: reused.aggregate_type, aggregate_id: reused.aggregate_id }, reused.aggregate_version);
    }
    if (rows.length !== events.length) return null;
    const byId = new Map(rows.map((r) => [r.event_id as string, r]));
    const stored = events.map((e) => byId.get(e.event_id)!);
    return {
      events: stored.map((r) => ({ event_id: r.event_id, version: r.aggregate_version, position: Number(r.position) })),
      nextExpectedVersion: Math.max(...stored.map((r) => r.aggregate_version)),
    };
  }
}

function metadataOf(e: EventEnvelope): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const k of ENVELOPE_KEYS) extra[k] = e[k];
  return { ...e.metadata, ...extra };
}

function checkExpected(stream: StreamId, expected: ExpectedVersion, current: number): void {
  const ok = expected === 'any' || (expected === 'stream_exists' && current >= 1) || (expected === 'no_stream' && current === 0) || (typeof expected === 'number' && current === expected);
  if (!ok) throw new VersionConflictError(stream, expected, current);
}

function validate(stream: StreamId, expected: ExpectedVersion, events: EventEnvelope[]): void {
  if (typeof expected === 'number' && (!Number.isInteger(expected) || expected < 0)) {
    throw new InvalidEventError(`expected version must be a non-negative integer, 'no_stream', 'stream_exists' or 'any', got ${expected}`);
  }
  const ids = new Set<string>();
  for (const e of events) {
    if (e.aggregate_type !== stream.aggregate_type || e.aggregate_id !== stream.aggregate_id) {
      throw new InvalidEventError(`event ${e.event_id} belongs to ${e.aggregate_type}/${e.aggregate_id}, not to the stream appended to`);
    }
    if (ids.has(e.event_id)) throw new InvalidEventError(`event id ${e.event_id} appears twice in one append`);
    ids.add(e.event_id);
    if (Number.isNaN(Date.parse(e.occurred_at))) throw new InvalidEventError(`event ${e.event_id} has an invalid occurred_at`);
  }
}

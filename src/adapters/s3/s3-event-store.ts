/**
 * S3EventStore: the event store of spice-oms on S3 / MinIO, the single source of truth.
 *
 * COMMIT POINT. An event is stored when, and only when, the conditional PUT
 * (`If-None-Match: *`) of its stream index object `indexes/by-aggregate/{type}/{id}/{version}.json`
 * succeeds. That object holds the full envelope, so the commit is one atomic S3 operation that
 * both decides the optimistic-concurrency race for the version and makes the event durable.
 * The event body (`events/...`) and the date index entry (`indexes/by-date/...`) are written
 * BEFORE the commit, in parallel, under keys that are deterministic from the event (occurred_at,
 * stream, event_id), so:
 *   - a crash before the commit leaves at most unreferenced objects (orphans): no version exists,
 *     nothing points to a missing body, and a retry writes the same keys again (idempotent);
 *   - a crash can never leave a committed version whose body or date entry is missing;
 *   - readers never trust the body or the date entry alone: readEvent and readAll confirm each
 *     one against the stream index (same event_id at that version) and return the index's
 *     envelope, so objects of a losing or crashed writer are never returned.
 * Committing first and writing the body after would need a repair path for every reader; a
 * separate "commit marker" would cost a third round trip. The happy path of an append at a known
 * expected version is exactly two round trips and no reads: [body ∥ date entry] then the index.
 *
 * BODY / DATE ENTRY PROTECTION. Both are first written with `If-None-Match: *` too. If one already
 * exists (a retry, or an orphan of a writer that lost a race), it is overwritten only after the
 * stream index shows it is NOT committed; if it is committed, the append is a retry of a stored
 * event (same content: no-op returning the stored position) or a reuse of its id (different
 * content: EventIdReusedError). So committed objects are never overwritten (invariant 1).
 *
 * CURRENT VERSION. Found by listing the stream's own index prefix (never the bucket) starting
 * after the last version this process saw (an in-process hint, corrected on every conflict; it
 * can only be too low, so "hint > expected" is a conflict detected without any write).
 * A numeric expected version n > 0 is checked to exist (HEAD, in parallel with the body writes,
 * skipped when the hint already proves it), so no append can open a gap in a stream.
 *
 * HOT STREAMS. Appends to one stream from one process are queued in-process (one attempt at a
 * time per stream), so concurrent commands of one worker do not race each other on S3; other
 * processes are arbitrated by the conditional PUT. After a lost race, the loser's own orphans are
 * rewritten with `If-Match: <its ETag>` (one request, and safe: a changed ETag falls back to the
 * guarded path above). Group commit (appendCommands): the events of several commands are one
 * such append, each command's marker written in the same first round; versions are still
 * committed in order, because a version committed past one another writer took would hold an event
 * decided without that writer's.
 *
 * LIMITS (documented, by design of S3 without transactions):
 *   - a multi-event append commits versions one after another; if a concurrent writer takes a
 *     version in the middle, the prefix already committed stays (VersionConflictError says so);
 *   - two concurrent appends of the SAME event_id at DIFFERENT versions can race past the
 *     duplicate check (the normal retry - same input, same expected version - is safe);
 *   - readAll orders by occurred_at: a tailing reader should pass settleMs (e.g. 10 s) so that
 *     events still being written with a recent occurred_at are not skipped by its checkpoint.
 */
import { createHash } from 'node:crypto';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { currentEnvelope, streamKey, type EventEnvelope, type S3Reference } from '../../contracts/event-envelope';
import { KeyedLock } from '../../lib/keyed-lock';
import { crashPoint, GROUP_CRASH_POINT } from '../../lib/crash-points';
import {
  CommandAppendedError,
  CommandReusedError,
  commandStoredError,
  EventIdReusedError,
  EventNotFoundError,
  EventStoreError,
  InvalidEventError,
  StoreCorruptedError,
  VersionConflictError,
  type AppendOptions,
  type AppendResult,
  type ClaimDecision,
  type CommandEvents,
  type CommandMark,
  type CommandRecord,
  CLAIM_VOIDED,
  claimedBy,
  resolveClaim,
  type EventStore,
  type ExpectedVersion,
  type ReadAllOptions,
  type ReadAllResult,
  type ReadStreamOptions,
  type StreamId,
} from '../../ports/event-store';
import { ensureBucket, getText, getWithEtag, isNotFound, listKeys, putIfAbsent, putIfMatch, putObject } from './s3-client';
import { mapLimit } from '../../lib/map-limit';
import { KeyEncodingError, S3KeyLayout, datePartOf, decodeSegment } from './s3-keys';
import {
  IndexReads,
  RaceLost,
  parseJson,
  sameEventContent,
  sameTarget,
  type Committed,
  type CommandMarker,
  type DateIndexEntry,
  type Prepared,
  type S3AppendedEvent,
  type S3StoredEvent,
} from './s3-event-objects';
import { VersionHints } from './version-hints';

export { sameEventContent } from './s3-event-objects';
export type { DateIndexEntry, S3AppendedEvent, S3StoredEvent } from './s3-event-objects';

export { createS3Client, ensureBucket } from './s3-client';
export type { S3ClientConfig, S3ClientOptions } from './s3-client';

export interface S3EventStoreOptions {
  client: S3Client;
  bucket: string;
  /** Recorded in every S3Reference (consumers read the event back from there). */
  endpoint: string;
  /** Key prefix of this store (tests use one per run); '' by default. */
  prefix?: string;
  /** Parallel GETs when reading (default 32). */
  readConcurrency?: number;
  /** Streams whose last known version is remembered (default 10 000). */
  versionHintCapacity?: number;
  /** Internal retries of 'any' / 'stream_exists' appends that lose a race (default 50). */
  maxRaceRetries?: number;
}

export interface S3ReadAllOptions extends ReadAllOptions {
  /**
   * Only date-index entries whose occurred_at is at least this old are returned (default 0).
   * Tailing readers that persist checkpoints should use a few seconds, so writes still in flight
   * are not skipped.
   */
  settleMs?: number;
}

export interface S3ReadAllResult extends ReadAllResult {
  events: S3StoredEvent[];
}

/** The commands of an append and which of its events (from first, count of them) each one owns. */
type CommandMarks = Array<{ command: CommandMark; first: number; count: number }>;
const marksOf = (events: EventEnvelope[], command: CommandMark | undefined): CommandMarks => (command ? [{ command, first: 0, count: events.length }] : []);

/** The date index entry: a pointer checked against the stream index before use. */
const streamKeyOf = (s: StreamId) => streamKey(s.aggregate_type, s.aggregate_id);

export class S3EventStore implements EventStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly endpoint: string;
  readonly keys: S3KeyLayout;
  private readonly readConcurrency: number;
  private readonly hintCapacity: number;
  private readonly maxRaceRetries: number;
  private readonly hints: VersionHints;
  /**
   * key -> ETag of a body / date entry this process wrote for an event whose commit then lost
   * its version (so the object is known uncommitted while its ETag is unchanged).
   */
  private readonly ownOrphans = new Map<string, string>();
  /** Claim decisions seen (write-once, so safe to keep). */
  private readonly decisions = new Map<string, ClaimDecision>();
  /** Per-stream tail of in-process appends (see exclusive()). */
  private readonly appends = new KeyedLock();

  constructor(opts: S3EventStoreOptions) {
    this.client = opts.client;
    this.bucket = opts.bucket;
    this.endpoint = opts.endpoint;
    this.keys = new S3KeyLayout(opts.prefix);
    this.readConcurrency = opts.readConcurrency ?? 32;
    this.hintCapacity = opts.versionHintCapacity ?? 10_000;
    this.hints = new VersionHints(this.hintCapacity);
    this.maxRaceRetries = opts.maxRaceRetries ?? 50;
  }

  /** Creates the bucket if missing (versioning enabled where supported). */
  async ensureBucket(): Promise<void> {
    await ensureBucket(this.client, this.bucket);
  }

  // ---------------------------------------------------------------- version hints

  /** The last version this process saw for the stream (a hint: only ever too low). */
  versionHint(stream: StreamId): number | undefined {
    return this.hints.get(stream);
  }

  private noteVersion(stream: StreamId, version: number): void {
    this.hints.note(stream, version);
  }

  // ---------------------------------------------------------------- keys and references

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof KeyEncodingError) throw new InvalidEventError(e.message);
      throw e;
    }
  }

  refOf(env: EventEnvelope): S3Reference {
    return { bucket: this.bucket, key: this.keys.eventKey(env, env.event_id, env.occurred_at), endpoint: this.endpoint, event_id: env.event_id };
  }

  private dateEntryOf(env: EventEnvelope): DateIndexEntry {
    return {
      event_id: env.event_id,
      aggregate_type: env.aggregate_type,
      aggregate_id: env.aggregate_id,
      aggregate_version: env.aggregate_version,
      occurred_at: env.occurred_at,
      event_key: this.keys.relative(this.keys.eventKey(env, env.event_id, env.occurred_at)),
    };
  }

  /** The committed envelope at a version, upcast: what every read of this store returns. */
  private async readIndex(stream: StreamId, version: number): Promise<EventEnvelope | undefined> {
    const env = await this.readStoredIndex(stream, version);
    return env && currentEnvelope(env);
  }

  /** The committed envelope as stored (for the one path that writes it back: a body restored from its index). */
  private async readStoredIndex(stream: StreamId, version: number): Promise<EventEnvelope | undefined> {
    const env = parseJson<EventEnvelope>(await getText(this.client, this.bucket, this.keys.streamIndexKey(stream, version)));
    if (env === undefined) return undefined;
    if (env.aggregate_version !== version || env.aggregate_type !== stream.aggregate_type || env.aggregate_id !== stream.aggregate_id) {
      throw new StoreCorruptedError(`stream index object ${this.keys.streamIndexKey(stream, version)} holds a different position`);
    }
    return env;
  }

  // ---------------------------------------------------------------- low-level steps (public for crash tests)

  /**
   * Step 1 of storing an event (before the commit): writes the body and the date index entry in
   * parallel. Returns 'stored' when the event is already committed at some version.
   */
  async prepareEvent(env: EventEnvelope, reads?: IndexReads): Promise<Prepared> {
    const stream = { aggregate_type: env.aggregate_type, aggregate_id: env.aggregate_id };
    const r = reads ?? new IndexReads((v) => this.readIndex(stream, v));
    const bytes = JSON.stringify(env);
    const bodyKey = this.keys.eventKey(env, env.event_id, env.occurred_at);
    const dateKey = this.keys.dateIndexKey(env.event_id, env.occurred_at);
    const committedAt = async (existing: { aggregate_version?: unknown; event_id?: unknown } | undefined) => {
      const v = existing?.aggregate_version;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || existing?.event_id !== env.event_id) return undefined;
      return (await r.at(v))?.event_id === env.event_id ? v : undefined;
    };
    const [body, date] = await Promise.all([this.guardedPut(bodyKey, bytes, committedAt), this.guardedPut(dateKey, JSON.stringify(this.dateEntryOf(env)), committedAt)]);
    const storedAt = body.committedAt ?? date.committedAt;
    if (storedAt === undefined) {
      return {
        kind: 'ready',
        written: [
          [bodyKey, body.etag],
          [dateKey, date.etag],
        ],
      };
    }
    const stored = await r.at(storedAt);
    if (!stored) throw new StoreCorruptedError(`stream index vanished at version ${storedAt}`);
    if (!sameEventContent(stored, env)) throw new EventIdReusedError(env.event_id, stream, storedAt);
    if (body.committedAt === undefined) {
      // the body was taken for an orphan and replaced, yet the event is committed: restore it as stored
      await putObject(this.client, this.bucket, bodyKey, JSON.stringify(await this.readStoredIndex(stream, storedAt)));
    }
    return { kind: 'stored', version: storedAt };
  }

  /**
   * Writes `bytes` at `key` unless a committed event's object is there. Returns the committed
   * version found (object left untouched), or the ETag once our bytes are in place.
   */
  private async guardedPut(
    key: string,
    bytes: string,
    committedAt: (existing: { aggregate_version?: unknown; event_id?: unknown } | undefined) => Promise<number | undefined>,
  ): Promise<{ committedAt?: number; etag?: string }> {
    // Fast path for a retry after a lost race: the object is still exactly our orphan (ETag).
    const own = this.ownOrphans.get(key);
    if (own !== undefined) {
      this.ownOrphans.delete(key);
      const etag = await putIfMatch(this.client, this.bucket, key, bytes, own);
      if (etag !== undefined) return { etag };
    }
    const created = await putIfAbsent(this.client, this.bucket, key, bytes);
    if (created.created) return { etag: created.etag };
    const existing = await getText(this.client, this.bucket, key);
    if (existing === bytes) return {};
    const v = await committedAt(parseJson(existing));
    if (v !== undefined) return { committedAt: v };
    return { etag: await putObject(this.client, this.bucket, key, bytes) }; // an orphan: never committed
  }

  /** Remembers objects this process wrote for an event that definitely lost its version. */
  private noteOrphans(written: Array<[string, string | undefined]>): void {
    for (const [key, etag] of written) {
      if (!etag) continue;
      this.ownOrphans.set(key, etag);
      if (this.ownOrphans.size > this.hintCapacity) {
        const oldest = this.ownOrphans.keys().next().value;
        if (oldest !== undefined) this.ownOrphans.delete(oldest);
      }
    }
  }

  /** Step 2, the commit point: the conditional PUT of the stream index object. */
  async commitEvent(env: EventEnvelope): Promise<Committed> {
    const stream = { aggregate_type: env.aggregate_type, aggregate_id: env.aggregate_id };
    const key = this.keys.streamIndexKey(stream, env.aggregate_version);
    if ((await putIfAbsent(this.client, this.bucket, key, JSON.stringify(env))).created) return { kind: 'created' };
    const holder = await this.readIndex(stream, env.aggregate_version);
    if (holder?.event_id !== env.event_id) return { kind: 'conflict' };
    if (!sameEventContent(holder, env)) throw new EventIdReusedError(env.event_id, stream, env.aggregate_version);
    return { kind: 'stored' };
  }

  // ---------------------------------------------------------------- append

  private validate(stream: StreamId, events: EventEnvelope[]): void {
    this.guard(() => this.keys.streamIndexPrefix(stream));
    const seen = new Set<string>();
    for (const e of events) {
      if (!e || typeof e !== 'object') throw new InvalidEventError('an event must be an object');
      if (e.aggregate_type !== stream.aggregate_type || e.aggregate_id !== stream.aggregate_id) {
        throw new InvalidEventError(`event ${String(e.event_id)} belongs to another stream than the one appended to`);
      }
      if (typeof e.event_id !== 'string' || e.event_id.length === 0 || e.event_id.length > 200) throw new InvalidEventError('event_id must be a non-empty string of at most 200 chars');
      if (seen.has(e.event_id)) throw new InvalidEventError(`event_id ${e.event_id} appears twice in one append`);
      seen.add(e.event_id);
      this.guard(() => {
        datePartOf(e.occurred_at);
        this.keys.eventKey(e, e.event_id, e.occurred_at);
      });
    }
  }

  /**
   * Appends events at the stream's next versions. Each envelope's aggregate_version is assigned
   * here (the input is not mutated). Retrying an append whose write already happened returns the
   * stored positions.
   */
  async append(stream: StreamId, expectedVersion: ExpectedVersion, events: EventEnvelope[], options: AppendOptions = {}): Promise<AppendResult<S3AppendedEvent>> {
    const command = options.command;
    try {
      return await this.appendEvents(stream, expectedVersion, events, command);
    } catch (e) {
      // Two attempts of one command at the marked version (their occurred_at differ): the other one's events are stored.
      const record = command && e instanceof EventIdReusedError ? await this.findCommand(command.command_id) : undefined;
      if (record) throw commandStoredError(record, command!);
      throw e;
    }
  }

  private async appendEvents(stream: StreamId, expectedVersion: ExpectedVersion, events: EventEnvelope[], command: CommandMark | undefined): Promise<AppendResult<S3AppendedEvent>> {
    this.validate(stream, events);
    if (typeof expectedVersion === 'number' && (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0)) {
      throw new InvalidEventError(`expected version must be an integer >= 0, got ${expectedVersion}`);
    }
    if (events.length === 0) {
      const current = await this.currentVersion(stream);
      this.checkExpected(stream, expectedVersion, current);
      return { events: [], nextExpectedVersion: current };
    }
    const retrying = expectedVersion === 'any' || expectedVersion === 'stream_exists';
    const done = new Map<string, S3AppendedEvent>();
    let pending = events;
    for (let attempt = 0; ; attempt++) {
      try {
        const placed = await this.appendOnce(stream, expectedVersion, pending, attempt > 0, command);
        for (const p of placed) done.set(p.event_id, p);
        const out = events.map((e) => done.get(e.event_id)!);
        const next = Math.max(...out.map((o) => o.version));
        this.noteVersion(stream, next);
        return { events: out, nextExpectedVersion: next };
      } catch (e) {
        if (!(e instanceof RaceLost)) throw e;
        for (const s of e.stored) done.set(s.event_id, s);
        const actual = e.knownVersion ?? (await this.currentVersion(stream));
        if (!retrying || e.committedBefore > 0 || attempt >= this.maxRaceRetries) {
          const err = new VersionConflictError(stream, expectedVersion, actual);
          if (e.committedBefore > 0) err.message += ` (the first ${e.committedBefore} event(s) of this append were stored)`;
          throw err;
        }
        // events found already stored elsewhere are kept; the rest go after the new end
        pending = pending.filter((p) => !done.has(p.event_id));
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * attempt)));
      }
    }
  }

  /**
   * Appends to one stream from this process run one at a time: concurrent commands on a hot
   * aggregate queue here instead of racing (and wasting writes) on S3. Other processes are still
   * arbitrated by the conditional PUT.
   */
  private exclusive<T>(stream: StreamId, fn: () => Promise<T>): Promise<T> {
    return this.appends.run(streamKeyOf(stream), fn);
  }

  private checkExpected(stream: StreamId, expected: ExpectedVersion, current: number): void {
    const ok = expected === 'any' || (expected === 'stream_exists' && current > 0) || (expected === 'no_stream' && current === 0) || (typeof expected === 'number' && expected === current);
    if (!ok) throw new VersionConflictError(stream, expected, current);
  }

  private async baseFor(stream: StreamId, expected: ExpectedVersion, refresh: boolean): Promise<number> {
    if (typeof expected === 'number') return expected;
    if (expected === 'no_stream') return 0;
    const hint = this.versionHint(stream);
    let base = hint !== undefined && !refresh ? hint : await this.currentVersion(stream);
    if (expected === 'stream_exists' && base === 0) {
      if (hint !== undefined && !refresh) base = await this.currentVersion(stream);
      if (base === 0) throw new VersionConflictError(stream, expected, 0);
    }
    return base;
  }

  /** One attempt, serialised per stream in this process; fails fast (no writes) on a stale base. */
  private async appendOnce(stream: StreamId, expected: ExpectedVersion, events: EventEnvelope[], refresh: boolean, command?: CommandMark): Promise<S3AppendedEvent[]> {
    const r = await this.exclusive(stream, async () => {
      const base = await this.baseFor(stream, expected, refresh);
      const hint = this.versionHint(stream);
      // The hint is never above the real version: a stream known to be past `base` conflicts,
      // unless this is a retry of events stored there (checked below, outside the queue).
      if (hint !== undefined && hint > base) return { stale: base, placed: undefined };
      return { stale: base, placed: await this.appendAt(stream, base, events, expected, marksOf(events, command)) };
    });
    if (r.placed) return r.placed;
    const envs = events.map((e, i) => ({ ...e, aggregate_version: r.stale + 1 + i }));
    if (await this.storedAtPositions(stream, envs)) return this.appendAt(stream, r.stale, events, expected, marksOf(events, command));
    if (command) {
      // A retry of a command stored at a later version than this attempt's stale base.
      const record = await this.findCommand(command.command_id);
      if (record) throw commandStoredError(record, command);
    }
    throw new RaceLost(0, [], this.versionHint(stream));
  }

  /**
   * Group commit: the commands' events as one append, each command's marker written beside the
   * bodies in the same round, then the versions committed one after another (OCC as in append).
   * Fails fast without writing when this process knows the stream is past `expected`.
   */
  async appendCommands(stream: StreamId, expected: number, commands: CommandEvents[]): Promise<AppendResult<S3AppendedEvent>> {
    const events = commands.flatMap((c) => c.events);
    this.validate(stream, events);
    let first = 0;
    const marks = commands.map((c) => ({ command: c.command, first: (first += c.events.length) - c.events.length, count: c.events.length }));
    try {
      const placed = await this.exclusive(stream, async () => {
        const hint = this.versionHint(stream);
        if (hint !== undefined && hint > expected) throw new RaceLost(0, [], hint);
        return this.appendAt(stream, expected, events, expected, marks);
      });
      const next = Math.max(...placed.map((p) => p.version));
      this.noteVersion(stream, next);
      return { events: placed, nextExpectedVersion: next };
    } catch (e) {
      if (!(e instanceof RaceLost)) throw e;
      const err = new VersionConflictError(stream, expected, e.knownVersion ?? (await this.currentVersion(stream)));
      if (e.committedBefore > 0) err.message += ` (the first ${e.committedBefore} event(s) of this append were stored)`;
      throw err;
    }
  }

  private async appendAt(stream: StreamId, base: number, events: EventEnvelope[], expected: ExpectedVersion, marks: CommandMarks): Promise<S3AppendedEvent[]> {
    const reads = new IndexReads((v) => this.readIndex(stream, v));
    const envs = events.map((e, i) => ({ ...e, aggregate_version: base + 1 + i }));
    const hint = this.versionHint(stream);
    const [preparedR, baseExistsR, markedR] = await Promise.allSettled([
      Promise.all(envs.map((env) => this.prepareEvent(env, reads))),
      base === 0 || (hint !== undefined && hint >= base) ? Promise.resolve(true) : this.versionExists(stream, base),
      Promise.all(marks.map((m) => this.markCommand(envs.slice(m.first, m.first + m.count), m.command))),
    ]);
    // The marker speaks first: an earlier attempt's stored events explain any "already stored" below.
    if (markedR.status === 'rejected') throw markedR.reason;
    if (preparedR.status === 'rejected') throw preparedR.reason;
    if (baseExistsR.status === 'rejected') throw baseExistsR.reason;
    const prepared = preparedR.value;
    const baseExists = baseExistsR.value;
    const stored: S3AppendedEvent[] = [];
    prepared.forEach((p, i) => {
      if (p.kind === 'stored') stored.push({ event_id: envs[i].event_id, version: p.version, s3: this.refOf({ ...envs[i], aggregate_version: p.version }) });
    });
    if (stored.length === envs.length) return stored; // a retry of an append that was fully stored
    if (stored.length > 0) {
      // part of this batch is already stored at other versions: only a rebasing append continues
      throw new RaceLost(0, typeof expected === 'number' || expected === 'no_stream' ? [] : stored);
    }
    if (!baseExists) throw new RaceLost(0);
    if (marks.length > 1) crashPoint(GROUP_CRASH_POINT, [stream.aggregate_id]);
    const out: S3AppendedEvent[] = [];
    for (let i = 0; i < envs.length; i++) {
      const c = await this.commitEvent(envs[i]);
      if (c.kind === 'conflict') {
        const p = prepared[i];
        if (p.kind === 'ready') this.noteOrphans(p.written);
        if (i > 0) this.noteVersion(stream, envs[i - 1].aggregate_version);
        throw new RaceLost(i);
      }
      out.push({ event_id: envs[i].event_id, version: envs[i].aggregate_version, s3: this.refOf(envs[i]) });
    }
    this.noteVersion(stream, envs[envs.length - 1].aggregate_version); // before the queue moves on
    return out;
  }

  /** True when the stream index already holds these very events at these versions (a retry). */
  private async storedAtPositions(stream: StreamId, envs: EventEnvelope[]): Promise<boolean> {
    const first = await this.readIndex(stream, envs[0].aggregate_version);
    return first?.event_id === envs[0].event_id;
  }

  private async versionExists(stream: StreamId, version: number): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keys.streamIndexKey(stream, version) }));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  // ---------------------------------------------------------------- command markers

  /**
   * Makes the marker of `command` name these versions (see CommandMarker). Throws
   * CommandAppendedError when the command's events are committed elsewhere, CommandReusedError for
   * another request under the same id, and RaceLost while the marked version is the stream's next
   * one (this attempt's base is stale, or another attempt of the command is about to commit there).
   * A marked version further on belongs to a dead group writer: the next version is fenced first.
   */
  private async markCommand(envs: EventEnvelope[], command: CommandMark): Promise<void> {
    const key = this.guard(() => this.keys.commandKey(command.command_id));
    const mark: CommandMarker = {
      command_id: command.command_id,
      request_hash: command.request_hash,
      aggregate_type: envs[0].aggregate_type,
      aggregate_id: envs[0].aggregate_id,
      first_version: envs[0].aggregate_version,
      event_ids: envs.map((e) => e.event_id),
    };
    const body = JSON.stringify(mark);
    for (let attempt = 0; attempt < 20; attempt++) {
      if ((await putIfAbsent(this.client, this.bucket, key, body)).created) return;
      const found = await getWithEtag(this.client, this.bucket, key);
      if (found === undefined) continue;
      const marked = parseJson<CommandMarker>(found.text);
      if (!marked || typeof marked.first_version !== 'number' || !Array.isArray(marked.event_ids)) throw new StoreCorruptedError(`unreadable command marker ${key}`);
      if (marked.request_hash !== command.request_hash) throw new CommandReusedError(command.command_id);
      if (sameTarget(marked, mark)) return;
      const record = await this.recordOf(marked);
      if (record) throw new CommandAppendedError(record);
      const markedStream = { aggregate_type: marked.aggregate_type, aggregate_id: marked.aggregate_id };
      const holder = await this.readIndex(markedStream, marked.first_version);
      // An attempt of this very command committed its one event there since recordOf looked: the next round finds it.
      if (holder !== undefined && marked.event_ids.length === 1 && holder.event_id === marked.event_ids[0]) continue;
      if (holder === undefined) {
        if (streamKeyOf(markedStream) === streamKeyOf(envs[0])) {
          // The marked version is still free. Is it the stream's next one, an attempt of this
          // command may be about to commit there: this one waits its turn. Beyond the next one (a
          // group whose writer died between its marker round and its commits, or a base that was
          // never stored), only that attempt's own earlier commits could fill the versions before
          // it, and it may never come back: every version up to the marked one is taken with an
          // entry that changes nothing, in order. Then no attempt can commit at the marked version
          // (not the marker's writer, nor another attempt adopting the same marker), and the next
          // round takes the marker over, or finds the command's events if an attempt got there first.
          const current = await this.currentVersion(markedStream);
          if (marked.first_version <= current + 1) throw new RaceLost(0);
          for (let v = current + 1; v <= marked.first_version; v++) if ((await this.fence(markedStream, marked, v)) === 'taken') break;
          continue;
        }
        // Another stream of the same command: its database's life ended (a retry locates the
        // current one), so nothing else will ever take the marked version and the marker would hold
        // forever. Take it with a voided entry; if the dead attempt committed first, the next
        // round answers with its events.
        await this.fence(markedStream, marked);
        continue;
      }
      // The marked version went to another event for good: this attempt's versions take its place.
      if ((await putIfMatch(this.client, this.bucket, key, body, found.etag)) !== undefined) return;
    }
    throw new RaceLost(0);
  }

  /** Holds a version (the marker's first one by default) with an entry that changes nothing: a claim voided before it is written. */
  private async fence(stream: StreamId, m: CommandMarker, version = m.first_version): Promise<'claimed' | 'taken'> {
    const fenceId = `${m.command_id}#fence@${version}`;
    await this.decideClaims(fenceId, 'void', { request_hash: '', stream });
    return this.claim({
      event_id: fenceId,
      event_type: CLAIM_VOIDED,
      ...stream,
      aggregate_version: version,
      occurred_at: new Date().toISOString(),
      actor: 'event-store',
      command_id: fenceId,
      schema_version: 1,
      payload: {},
      metadata: { storage_mode: 's3_only', claimed_by: fenceId, fences: m.command_id },
    });
  }

  /** The marker's events when they are committed at the versions it names. */
  private async recordOf(m: CommandMarker): Promise<CommandRecord | undefined> {
    if (m.decision !== undefined) return undefined;
    const stream = { aggregate_type: m.aggregate_type, aggregate_id: m.aggregate_id };
    const events = await this.readStream(stream, { fromVersion: m.first_version, toVersion: m.first_version + m.event_ids.length - 1 });
    if (events.length !== m.event_ids.length || events.some((e, i) => e.envelope.event_id !== m.event_ids[i])) return undefined;
    return { command_id: m.command_id, request_hash: m.request_hash, stream, events };
  }

  async findCommand(commandId: string): Promise<CommandRecord | undefined> {
    const text = await getText(
      this.client,
      this.bucket,
      this.guard(() => this.keys.commandKey(commandId)),
    );
    const marked = parseJson<CommandMarker>(text);
    return marked ? this.recordOf(marked) : undefined;
  }

  // ---------------------------------------------------------------- claims

  async claim(entry: EventEnvelope): Promise<'claimed' | 'taken'> {
    const stream = { aggregate_type: entry.aggregate_type, aggregate_id: entry.aggregate_id };
    this.validate(stream, [entry]);
    if (claimedBy(entry) === undefined) throw new InvalidEventError('a claim entry names its command in metadata.claimed_by');
    const key = this.guard(() => this.keys.streamIndexKey(stream, entry.aggregate_version));
    if (!(await putIfAbsent(this.client, this.bucket, key, JSON.stringify(entry))).created) return 'taken';
    this.noteVersion(stream, entry.aggregate_version);
    return 'claimed';
  }

  async decideClaims(commandId: string, decision: ClaimDecision, mark: { request_hash: string; stream: StreamId }): Promise<ClaimDecision> {
    const key = this.guard(() => this.keys.commandKey(commandId));
    const marker: CommandMarker = { command_id: commandId, request_hash: mark.request_hash, ...mark.stream, first_version: 0, event_ids: [], decision };
    if (!(await putIfAbsent(this.client, this.bucket, key, JSON.stringify(marker))).created) {
      const existing = await this.decisionOf(commandId);
      if (existing === undefined) throw new StoreCorruptedError(`command marker ${key} holds no claim decision`);
      return existing;
    }
    this.decisions.set(commandId, decision);
    return decision;
  }

  private async decisionOf(commandId: string): Promise<ClaimDecision | undefined> {
    const known = this.decisions.get(commandId);
    if (known) return known;
    const decision = parseJson<CommandMarker>(
      await getText(
        this.client,
        this.bucket,
        this.guard(() => this.keys.commandKey(commandId)),
      ),
    )?.decision;
    if (decision) {
      if (this.decisions.size >= this.hintCapacity) this.decisions.delete(this.decisions.keys().next().value as string);
      this.decisions.set(commandId, decision);
    }
    return decision;
  }

  /** Claim entries under their command's decision (see resolveClaim). */
  private async resolved(env: EventEnvelope): Promise<EventEnvelope> {
    const by = claimedBy(env);
    return by === undefined ? env : resolveClaim(env, await this.decisionOf(by));
  }

  // ---------------------------------------------------------------- reads

  /** The stream's current version (0 when empty): lists only this stream's index prefix, after the hint. */
  async currentVersion(stream: StreamId): Promise<number> {
    const prefix = this.guard(() => this.keys.streamIndexPrefix(stream));
    const hint = this.versionHint(stream);
    const { objects } = await listKeys(this.client, this.bucket, prefix, {
      startAfter: hint ? this.keys.streamIndexKey(stream, hint) : undefined,
    });
    let current = hint ?? 0;
    for (const o of objects) {
      const v = o.Key ? this.keys.versionOfIndexKey(o.Key) : undefined;
      if (v !== undefined && v > current) current = v;
    }
    this.noteVersion(stream, current);
    return current;
  }

  /** Events of one stream in version order, fromVersion..toVersion inclusive. */
  async readStream(stream: StreamId, options: ReadStreamOptions = {}): Promise<S3StoredEvent[]> {
    const prefix = this.guard(() => this.keys.streamIndexPrefix(stream));
    const from = Math.max(1, options.fromVersion ?? 1);
    const to = options.toVersion ?? Number.POSITIVE_INFINITY;
    if (to < from) return [];
    const { objects } = await listKeys(this.client, this.bucket, prefix, {
      startAfter: from > 1 ? this.keys.streamIndexKey(stream, from - 1) : undefined,
      max: Number.isFinite(to) ? to - from + 1 : undefined,
    });
    const versions = objects.map((o) => (o.Key ? this.keys.versionOfIndexKey(o.Key) : undefined)).filter((v): v is number => v !== undefined && v <= to);
    versions.forEach((v, i) => {
      if (v !== from + i) throw new StoreCorruptedError(`stream ${stream.aggregate_type}/${stream.aggregate_id} has a gap before version ${v}`);
    });
    const events = await mapLimit(versions, this.readConcurrency, async (v) => {
      const env = await this.readIndex(stream, v);
      if (!env) throw new StoreCorruptedError(`stream index object of version ${v} disappeared`);
      return { envelope: await this.resolved(env), s3: this.refOf(env) };
    });
    if (!Number.isFinite(to) && versions.length > 0) this.noteVersion(stream, versions[versions.length - 1]);
    return events;
  }

  /**
   * Events of one stream like readStream, except that a version whose index object holds exactly
   * the bytes of `JSON.stringify(expected[version - 1])` is not read: its ETag (the MD5 of a
   * single-part PUT's body) says so, and that envelope is returned for it. What a verify uses:
   * one LIST per stream when the copies agree, a GET only where they may not. Claim entries are
   * always read (their resolved type depends on the decision marker, not on the entry's bytes).
   */
  async readStreamExpecting(stream: StreamId, expected: EventEnvelope[]): Promise<S3StoredEvent[]> {
    const prefix = this.guard(() => this.keys.streamIndexPrefix(stream));
    const { objects } = await listKeys(this.client, this.bucket, prefix);
    const found = objects.flatMap((o) => {
      const v = o.Key ? this.keys.versionOfIndexKey(o.Key) : undefined;
      return v === undefined ? [] : [{ v, etag: o.ETag }];
    });
    found.forEach(({ v }, i) => {
      if (v !== i + 1) throw new StoreCorruptedError(`stream ${stream.aggregate_type}/${stream.aggregate_id} has a gap before version ${v}`);
    });
    const events = await mapLimit(found, this.readConcurrency, async ({ v, etag }) => {
      const known = expected[v - 1];
      if (known && known.aggregate_version === v && claimedBy(known) === undefined && etag === `"${createHash('md5').update(JSON.stringify(known)).digest('hex')}"`) {
        return { envelope: known, s3: this.refOf(known) };
      }
      const env = await this.readIndex(stream, v);
      if (!env) throw new StoreCorruptedError(`stream index object of version ${v} disappeared`);
      return { envelope: await this.resolved(env), s3: this.refOf(env) };
    });
    if (found.length > 0) this.noteVersion(stream, found[found.length - 1].v);
    return events;
  }

  /**
   * Every committed stream version as its index object holds it (events, and claims unresolved,
   * with no body and so no reference), a page at a time in key order: each stream's versions in
   * order. What a disaster recovery rebuilds the ledger from.
   */
  async *committedEntries(pageSize = 1000): AsyncGenerator<{ envelope: EventEnvelope; s3: S3Reference | null }[]> {
    const root = `${this.keys.prefix}indexes/by-aggregate/`;
    let startAfter: string | undefined;
    for (;;) {
      const page = await listKeys(this.client, this.bucket, root, { startAfter, max: pageSize });
      const keys = page.objects.map((o) => o.Key!).filter((k) => this.keys.versionOfIndexKey(k) !== undefined);
      const envelopes = await mapLimit(keys, this.readConcurrency, async (k) => parseJson<EventEnvelope>(await getText(this.client, this.bucket, k)));
      yield envelopes.filter((e): e is EventEnvelope => e !== undefined).map((e) => ({ envelope: currentEnvelope(e), s3: claimedBy(e) === undefined ? this.refOf(e) : null }));
      if (!page.truncated || page.objects.length === 0) return;
      startAfter = page.objects[page.objects.length - 1].Key;
    }
  }

  /** Time travel: events 1..version (the aggregate as it was at that version). */
  async aggregateAt(stream: StreamId, version: number): Promise<S3StoredEvent[]> {
    if (!Number.isSafeInteger(version) || version < 0) throw new InvalidEventError(`invalid version ${version}`);
    if (version === 0) return [];
    const events = await this.readStream(stream, { fromVersion: 1, toVersion: version });
    if (events.length < version) throw new EventNotFoundError(`stream ${stream.aggregate_type}/${stream.aggregate_id} has no version ${version} (current ${events.length})`);
    return events;
  }

  /** One committed event by its S3 reference (the body is confirmed against the stream index). */
  async readEvent(ref: S3Reference): Promise<S3StoredEvent> {
    if (ref.bucket !== this.bucket || !ref.key.startsWith(`${this.keys.prefix}events/`)) {
      throw new EventNotFoundError(`reference outside this store: ${ref.bucket}/${ref.key}`);
    }
    const body = parseJson<EventEnvelope>(await getText(this.client, this.bucket, ref.key));
    if (!body || typeof body.aggregate_version !== 'number') throw new EventNotFoundError(`no event at ${ref.key}`);
    const stream = { aggregate_type: body.aggregate_type, aggregate_id: body.aggregate_id };
    const committed = await this.guard(() => this.readIndex(stream, body.aggregate_version));
    if (!committed || committed.event_id !== body.event_id || (ref.event_id && ref.event_id !== body.event_id) || this.refOf(committed).key !== ref.key) {
      throw new EventNotFoundError(`event at ${ref.key} is not committed`);
    }
    return { envelope: committed, s3: this.refOf(committed) };
  }

  /** A date index entry resolved to its committed event, or undefined for an orphan. */
  private async resolveDateEntry(key: string): Promise<S3StoredEvent | undefined> {
    const entry = parseJson<DateIndexEntry>(await getText(this.client, this.bucket, key));
    if (!entry || typeof entry.aggregate_version !== 'number' || typeof entry.aggregate_type !== 'string' || typeof entry.aggregate_id !== 'string') return undefined;
    let env: EventEnvelope | undefined;
    try {
      env = await this.readIndex({ aggregate_type: entry.aggregate_type, aggregate_id: entry.aggregate_id }, entry.aggregate_version);
    } catch (e) {
      if (e instanceof KeyEncodingError || e instanceof EventStoreError) return undefined;
      throw e;
    }
    if (!env || env.event_id !== entry.event_id || this.keys.dateIndexKey(env.event_id, env.occurred_at) !== key) return undefined;
    return { envelope: env, s3: this.refOf(env) };
  }

  /**
   * All events in time order (occurred_at, then event_id) across days, months and years, via the
   * date index. The checkpoint is the last date-index key examined (prefix-relative, opaque).
   */
  async readAll(options: S3ReadAllOptions = {}): Promise<S3ReadAllResult> {
    const limit = Math.max(1, options.limit ?? 100);
    const watermark = Date.now() - Math.max(0, options.settleMs ?? 0);
    const root = this.keys.dateIndexRoot();
    const from = options.from;
    let startAfter = from ? this.guard(() => this.keys.checkpointKey(from)) : undefined;
    if (startAfter && options.rewindMs) startAfter = this.keys.dateIndexBefore(epochOfDateKey(startAfter) - options.rewindMs);
    const events: S3StoredEvent[] = [];
    let checkpoint = from;
    for (;;) {
      const want = limit - events.length;
      const page = await listKeys(this.client, this.bucket, root, { startAfter, max: Math.min(1000, Math.max(16, Math.ceil(want * 1.25))) });
      const keys = page.objects.map((o) => o.Key!).filter(Boolean);
      if (keys.length === 0) return { events, checkpoint, hasMore: false };
      const eligible = keys.findIndex((k) => {
        const t = epochOfDateKey(k);
        return Number.isNaN(t) || t > watermark;
      });
      const settled = eligible === -1;
      const usable = settled ? keys : keys.slice(0, eligible);
      const known = options.known ? await options.known(usable.map(eventIdOfDateKey).filter((id): id is string => id !== undefined)) : undefined;
      const resolved = await mapLimit(usable, this.readConcurrency, async (k) => {
        const id = eventIdOfDateKey(k);
        return id !== undefined && known?.has(id) ? undefined : this.resolveDateEntry(k);
      });
      for (let i = 0; i < usable.length; i++) {
        if (events.length === limit) return { events, checkpoint, hasMore: true };
        const relative = this.keys.relative(usable[i]);
        // Entries of a rewound stretch are looked at again; the checkpoint stays where it was.
        if (from === undefined || relative > from) checkpoint = relative;
        const r = resolved[i];
        if (r) events.push(r);
      }
      if (!settled) return { events, checkpoint, hasMore: true };
      if (events.length === limit) return { events, checkpoint, hasMore: page.truncated };
      if (!page.truncated) return { events, checkpoint, hasMore: false };
      startAfter = keys[keys.length - 1];
    }
  }
}

/** The epoch ms of a date-index key (NaN when it is not one). */
function epochOfDateKey(key: string): number {
  const m = /\/(\d{13})_[^/]+\.json$/.exec(key);
  return m ? Number(m[1]) : NaN;
}

/** The event id a date-index key names, when its segment is not hashed. */
function eventIdOfDateKey(key: string): string | undefined {
  const m = /\/\d{13}_([^/]+)\.json$/.exec(key);
  return m ? decodeSegment(m[1]) : undefined;
}

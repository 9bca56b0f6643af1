/**
 * The store-agnostic event store contract, implemented by the S3 event store (the single source
 * of truth) and by the legacy PostgreSQL store (migration / rollback only).
 *
 * Errors are typed and carry a stable `code`, so activities can map them to business failures
 * (VERSION_CONFLICT, EVENT_ID_REUSED -> 409) without parsing messages. Temporal serialises errors
 * across activity boundaries, so the code (not the prototype) is what callers should match on.
 */
import type { EventEnvelope, S3Reference, StoredEvent } from '../contracts/event-envelope';

/** Which stream: one per aggregate. */
export interface StreamId {
  aggregate_type: string;
  aggregate_id: string;
}

/**
 * Optimistic concurrency of an append:
 * - a number n: the stream must be exactly at version n (0 = empty), events get n+1, n+2, ...
 * - 'no_stream': the stream must be empty (same as 0)
 * - 'stream_exists': the stream must have at least one event; appended after its current end
 * - 'any': no check; appended after the current end (retried internally on races)
 */
export type ExpectedVersion = number | 'no_stream' | 'stream_exists' | 'any';

export interface AppendedEvent {
  event_id: string;
  /** The stream version the event holds (assigned by append). */
  version: number;
  /** Where the event body lives (S3 store only). */
  s3?: S3Reference;
}

export interface AppendResult<E extends AppendedEvent = AppendedEvent> {
  events: E[];
  /** The version to pass as expectedVersion to append right after these events. */
  nextExpectedVersion: number;
}

export interface ReadStreamOptions {
  /** First version to return (inclusive, default 1). */
  fromVersion?: number;
  /** Last version to return (inclusive, default the current version). */
  toVersion?: number;
}

export interface ReadAllOptions {
  /** An opaque checkpoint returned by an earlier readAll: reading resumes strictly after it. */
  from?: string;
  /** Maximum number of events to return (default 100). */
  limit?: number;
  /** Leave out events younger than this (ms), so a tailing reader's checkpoint never passes one still being written. */
  settleMs?: number;
  /**
   * Start this far (ms) before the checkpoint's time. A store whose order is not the commit order
   * (S3's date index orders by occurred_at, which a bulk batch takes from its planning, and a worker
   * from its own clock) can commit an entry behind a checkpoint already saved; the rewound stretch
   * finds it. The checkpoint returned never goes back. Stores that read in commit order ignore it.
   */
  rewindMs?: number;
  /** The ids among these the reader has already (e.g. recorded in the ledger): a store may pass over them without reading them. */
  known?: (eventIds: string[]) => Promise<ReadonlySet<string>>;
}

export interface ReadAllResult {
  /** Events in time order (occurred_at, then event_id). */
  events: StoredEvent[];
  /** Pass as `from` to continue; unchanged (equal to `from`) when nothing new was found. */
  checkpoint: string | undefined;
  /** True when more entries are known to follow the checkpoint. */
  hasMore: boolean;
}

/** The command an append carries out: its events are stored at most once per command id. */
export interface CommandMark {
  command_id: string;
  /** Hash of the command as requested: the same id with another hash is refused. */
  request_hash: string;
}

export interface AppendOptions {
  command?: CommandMark;
}

/** One command's events in a group append. */
export interface CommandEvents {
  command: CommandMark;
  events: EventEnvelope[];
}

/** Where a command's events were stored: what a retry of the command answers with. */
export interface CommandRecord {
  command_id: string;
  request_hash: string;
  stream: StreamId;
  events: StoredEvent[];
}

/**
 * Claims: how a bulk command creates instances on their own streams without a second creation
 * event. A claim is an entry at an instance stream's next version, taken by the same conditional
 * write as any event there, that holds the instance's creation as the batch event carries it. It
 * has no event body and no date index entry, so the ledger, Kafka and reconciliation never see it:
 * the batch event stays the one creation they deliver. A claim counts once its command's decision
 * (write-once, see decideClaims) says 'commit'; readStream shows it resolved:
 *   commit -> the entry as written (INSTANCE_CREATED, metadata.claimed_by = the command id)
 *   void   -> CLAIM_VOIDED (a version that changes nothing)
 *   none   -> CLAIM_PENDING (the command is still claiming; readers wait or void it)
 */
export const CLAIM_VOIDED = 'CLAIM_VOIDED';
export const CLAIM_PENDING = 'CLAIM_PENDING';
export type ClaimDecision = 'commit' | 'void';

/** The command that wrote a claim entry, or undefined for an ordinary event. */
export function claimedBy(e: EventEnvelope): string | undefined {
  const by = (e.metadata as { claimed_by?: unknown } | undefined)?.claimed_by;
  return typeof by === 'string' ? by : undefined;
}

/** A claim entry as readers see it under its command's decision. */
export function resolveClaim(e: EventEnvelope, decision: ClaimDecision | undefined): EventEnvelope {
  if (decision === 'commit') return e;
  return { ...e, event_type: decision === 'void' ? CLAIM_VOIDED : CLAIM_PENDING, payload: {} };
}

export interface EventStore {
  /**
   * Writes a claim entry (see CLAIM_VOIDED) at exactly `entry.aggregate_version` of its stream:
   * 'taken' when that version is held already (by anything, including this very claim).
   */
  claim(entry: EventEnvelope): Promise<'claimed' | 'taken'>;
  /** Records the decision on a command's claims once; returns the decision in force (maybe another writer's). */
  decideClaims(commandId: string, decision: ClaimDecision, mark: { request_hash: string; stream: StreamId }): Promise<ClaimDecision>;
  /**
   * With options.command, the store records the command id with the append, and an append of a
   * command whose events are already stored (at any version) throws CommandAppendedError with
   * them instead of storing them again; another request hash under that id throws CommandReusedError.
   */
  append(stream: StreamId, expectedVersion: ExpectedVersion, events: EventEnvelope[], options?: AppendOptions): Promise<AppendResult>;
  /**
   * Optional group commit: several commands' events appended at once, in order, at the versions
   * after `expectedVersion`, each command recorded with its own marker (as append with
   * options.command). On any error a prefix may be stored (as with a multi-event append): callers
   * then append the commands one by one, which finds what is stored through the markers.
   */
  appendCommands?(stream: StreamId, expectedVersion: number, commands: CommandEvents[]): Promise<AppendResult>;
  /** The stored events of a command appended with options.command, or undefined when none are stored. */
  findCommand(commandId: string): Promise<CommandRecord | undefined>;
  readStream(stream: StreamId, options?: ReadStreamOptions): Promise<StoredEvent[]>;
  currentVersion(stream: StreamId): Promise<number>;
  readAll(options?: ReadAllOptions): Promise<ReadAllResult>;
  /** Time travel: the events 1..version of the stream (version 0 gives none). */
  aggregateAt(stream: StreamId, version: number): Promise<StoredEvent[]>;
}

export type EventStoreErrorCode = 'VERSION_CONFLICT' | 'EVENT_ID_REUSED' | 'INVALID_EVENT' | 'EVENT_NOT_FOUND' | 'STORE_CORRUPTED' | 'COMMAND_APPENDED' | 'IDEMPOTENCY_KEY_REUSED';

export class EventStoreError extends Error {
  constructor(
    readonly code: EventStoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

const describe = (s: StreamId) => `${s.aggregate_type}/${JSON.stringify(s.aggregate_id).slice(0, 200)}`;

/** Another writer holds the version this append needed (HTTP 409 at the API). */
export class VersionConflictError extends EventStoreError {
  constructor(
    readonly stream: StreamId,
    readonly expected: ExpectedVersion,
    /** The stream's current version as observed after the conflict. */
    readonly actual: number,
  ) {
    super('VERSION_CONFLICT', `version conflict on ${describe(stream)}: expected ${String(expected)}, current ${actual}`);
  }
}

/** The event id is already stored with different content (an id must name exactly one event). */
export class EventIdReusedError extends EventStoreError {
  constructor(
    readonly eventId: string,
    readonly stream: StreamId,
    readonly storedVersion: number,
  ) {
    super('EVENT_ID_REUSED', `event id ${eventId} is already stored at ${describe(stream)} v${storedVersion} with different content`);
  }
}

/** The input cannot be stored (mismatched stream, bad occurred_at, duplicate ids in one batch...). */
export class InvalidEventError extends EventStoreError {
  constructor(message: string) {
    super('INVALID_EVENT', message);
  }
}

/** The command's events are stored already (by an earlier attempt): here they are, nothing was written. */
export class CommandAppendedError extends EventStoreError {
  constructor(readonly record: CommandRecord) {
    super('COMMAND_APPENDED', `command ${record.command_id} is already stored at ${describe(record.stream)} v${record.events[0]?.envelope.aggregate_version}`);
  }
}

/** The command id was recorded for another request (an Idempotency-Key reused with another body). */
export class CommandReusedError extends EventStoreError {
  constructor(readonly commandId: string) {
    super('IDEMPOTENCY_KEY_REUSED', `command ${commandId} was already recorded for a different request`);
  }
}

/** What an append of a command meets when the command id is stored already: its own events, or another request's. */
export function commandStoredError(record: CommandRecord, mark: CommandMark): CommandAppendedError | CommandReusedError {
  return record.request_hash === mark.request_hash ? new CommandAppendedError(record) : new CommandReusedError(record.command_id);
}

export class EventNotFoundError extends EventStoreError {
  constructor(message: string) {
    super('EVENT_NOT_FOUND', message);
  }
}

/** Stored data contradicts itself (e.g. a gap in a stream); never expected in a healthy store. */
export class StoreCorruptedError extends EventStoreError {
  constructor(message: string) {
    super('STORE_CORRUPTED', message);
  }
}

export function isEventStoreError(e: unknown, code?: EventStoreErrorCode): e is EventStoreError {
  return e instanceof EventStoreError && (code === undefined || e.code === code);
}

/** Where an append said an event lives: its S3 reference, or (legacy mode, no reference) its stream version. */
export interface AppendedEventLocation {
  event_id: string;
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  s3?: S3Reference;
}

/** Reads back an event another worker appended, from its source of truth in whichever mode wrote it. */
export interface AppendedEvents {
  read(at: AppendedEventLocation): Promise<EventEnvelope>;
}

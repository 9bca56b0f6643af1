/**
 * The store-agnostic event store contract, implemented by the S3 event store (the single source
 * of truth) and by the legacy PostgreSQL store (migration / rollback only).
 *
 * Errors are typed and carry a stable `code`, so activities can map them to business failures
 * (VERSION_CONFLICT, EVENT_ID_REUSED -> 409) without parsing messages. Temporal serialises errors
 * across activity boundaries, so the code (not the prototype) is what callers should match on.
 */
import type { EventEnvelope, S3Reference, StoredEvent } from './event-envelope';

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
}

export interface ReadAllResult {
  /** Events in time order (occurred_at, then event_id). */
  events: StoredEvent[];
  /** Pass as `from` to continue; unchanged (equal to `from`) when nothing new was found. */
  checkpoint: string | undefined;
  /** True when more entries are known to follow the checkpoint. */
  hasMore: boolean;
}

export interface EventStore {
  append(stream: StreamId, expectedVersion: ExpectedVersion, events: EventEnvelope[]): Promise<AppendResult>;
  readStream(stream: StreamId, options?: ReadStreamOptions): Promise<StoredEvent[]>;
  currentVersion(stream: StreamId): Promise<number>;
  readAll(options?: ReadAllOptions): Promise<ReadAllResult>;
  /** Time travel: the events 1..version of the stream (version 0 gives none). */
  aggregateAt(stream: StreamId, version: number): Promise<StoredEvent[]>;
}

export type EventStoreErrorCode =
  | 'VERSION_CONFLICT'
  | 'EVENT_ID_REUSED'
  | 'INVALID_EVENT'
  | 'EVENT_NOT_FOUND'
  | 'STORE_CORRUPTED';

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

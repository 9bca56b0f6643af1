/** Applying events to the read models (src/adapters/postgres/read-model-projector.ts), and how it fails. */
import type { EventEnvelope } from '../contracts/event-envelope';

export interface ApplyResult {
  applied: number;
  /** Events at or below their stream's projected version (already applied). */
  skipped: number;
  /** Predecessors read from the history to close gaps. */
  filled: number;
  /** Events of a database life that is over (or never projected as current): their positions advance, nothing else. */
  dropped: number;
}

/** Adds the counts of `r` to `total` (in place) and returns it. */
export function addApplyResult<T extends ApplyResult>(total: T, r: ApplyResult): T {
  total.applied += r.applied;
  total.skipped += r.skipped;
  total.filled += r.filled;
  total.dropped += r.dropped;
  return total;
}

/** The stream and the event where its projection stopped, and why (a code, never the server's text). */
export interface StreamFailure {
  aggregate_type: string;
  aggregate_id: string;
  event_id: string;
  aggregate_version: number;
  /** INVALID_EVENT or PROJECTION_GAP from the projector, EVENT_NOT_PROJECTABLE when PostgreSQL refused the data. */
  code: string;
  /** The code, or the SQLSTATE PostgreSQL refused the data with. */
  reason: string;
  /** The streams' later events in this call were not applied. */
  error: unknown;
}

/**
 * Retryable (a fix of code or data may make it apply), thrown after every other stream of the
 * call was applied. `failures` lists one event per stream that could not be projected.
 */
export class StreamsNotProjectedError extends Error {
  readonly code = 'EVENT_NOT_PROJECTABLE';
  constructor(
    readonly failures: StreamFailure[],
    readonly result: ApplyResult,
  ) {
    super(
      `${failures.length} stream(s) could not be projected: ${failures
        .slice(0, 3)
        .map((f) => `${f.aggregate_type}/${f.aggregate_id} v${f.aggregate_version} (${f.reason})`)
        .join(', ')}${failures.length > 3 ? ', ...' : ''}`,
      { cause: failures[0]?.error },
    );
    this.name = 'StreamsNotProjectedError';
  }
}

export interface Projector {
  /** Applies each event once, by stream version; re-applying is a no-op. */
  apply(events: EventEnvelope[]): Promise<ApplyResult>;
}

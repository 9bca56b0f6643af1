/**
 * What a client may read about a failure: a stable code and a message written here, never a
 * dependency's own words. PostgreSQL, S3, Kafka and Temporal word their errors with hosts, ports,
 * SQL, schema and object names; those stay in the server log, under the request id that asked.
 *
 * Refusals are the one exception: the domain (and the activities' version check) author their
 * messages for the client, and carry them as structured data ({ code, message, details }) in the
 * failure's details, under a code the API answers with a 4xx. Any other code, known or new (e.g.
 * a future EVENT_NOT_RECORDABLE), gets the message below for its code, or a generic one naming it.
 */
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import type { ErrorDetail } from '../domain/errors';
import type { CommandStep, RetryView } from '../ports/command-gateway';
import { statusOfCode } from './problem';

export interface SafeFailure {
  code: string;
  message: string;
  details: ErrorDetail[];
}

/** Messages for codes that are not refusals; a code missing here still answers with a safe text. */
export const SAFE_MESSAGES: Readonly<Record<string, string>> = {
  COMMAND_FAILED: 'the command failed',
  TERMINATED: 'the command was terminated',
  TIMED_OUT: 'the command timed out',
  CANCELLED: 'the command was cancelled',
  DEPENDENCY_FAILED: 'a service the step depends on failed',
  EVENT_ID_REUSED: 'an event id of this command is already stored for another event',
  INVALID_EVENT: 'the stored event is not valid for its stream',
  EVENT_UNAVAILABLE: 'a stored event could not be read',
  LEDGER_STREAM_CONFLICT: 'the ledger holds another event at the stream version of this one',
  EVENT_NOT_RECORDABLE: 'the ledger refuses the content of the stored event',
  EVENT_NOT_RECORDED: 'the event has no ledger row to deliver from',
  EVENT_NOT_PROJECTABLE: 'the read models refuse the stored event',
  PROJECTION_GAP: 'an earlier event of the stream is not projected yet',
  READ_MODELS_BEHIND: 'the read models have not reached the database life of the command yet',
  SEARCH_INDEX_BEHIND: 'the search index has not reached the database life of the event yet',
  SEARCH_NOT_PROJECTABLE: 'the search index refused the event',
  PREDECESSOR_NOT_DELIVERED: 'an earlier event of the stream is not delivered yet',
  KAFKA_PUBLISH_FAILED: 'the event bus did not take the event',
  KAFKA_MESSAGE_INVALID: 'the event bus message could not be built',
  STORE_CORRUPTED: 'the event store holds contradicting data for the stream',
  EVENT_NOT_FOUND: 'a stored event could not be found',
  REBUILD_TARGET_NOT_EMPTY: 'the rebuild target already holds read models',
  REBUILD_TARGET_IS_LIVE: 'the rebuild step names the live read-model schema',
  INVALID_QUERY: 'a query argument was refused',
};

const CODE = /^[A-Z][A-Z0-9_]{1,63}$/;

/** A failure type that reads as one of our codes; class names (DatabaseError, Error) are no codes. */
export function codeOf(type: string | null | undefined, fallback: string): string {
  return type !== null && type !== undefined && CODE.test(type) ? type : fallback;
}

export const safeMessageOf = (code: string): string => SAFE_MESSAGES[code] ?? `the command failed (${code})`;

interface AuthoredRefusal {
  code: string;
  message: string;
  details?: ErrorDetail[];
}

/** Refusal data as the activities attach it: a code, the client-facing message and its details. */
function authoredRefusal(data: unknown): AuthoredRefusal | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as Record<string, unknown>;
  if (typeof d.code !== 'string' || typeof d.message !== 'string') return undefined;
  if (d.details !== undefined && !Array.isArray(d.details)) return undefined;
  const status = statusOfCode(d.code);
  if (status === undefined || status < 400 || status > 499) return undefined;
  return d as unknown as AuthoredRefusal;
}

/** The client's view of why a workflow ended without a result. */
export function safeFailureOf(cause: unknown): SafeFailure {
  if (cause instanceof ApplicationFailure) {
    const refusal = authoredRefusal(cause.details?.[0]);
    if (refusal !== undefined) return { code: refusal.code, message: refusal.message, details: refusal.details ?? [] };
    const code = codeOf(cause.type, 'COMMAND_FAILED');
    return { code, message: safeMessageOf(code), details: [] };
  }
  if (cause instanceof TerminatedFailure) return { code: 'TERMINATED', message: safeMessageOf('TERMINATED'), details: [] };
  if (cause instanceof TimeoutFailure) return { code: 'TIMED_OUT', message: safeMessageOf('TIMED_OUT'), details: [] };
  if (cause instanceof CancelledFailure) return { code: 'CANCELLED', message: safeMessageOf('CANCELLED'), details: [] };
  return { code: 'COMMAND_FAILED', message: safeMessageOf('COMMAND_FAILED'), details: [] };
}

const STEP_OF_ACTIVITY: Record<string, CommandStep> = {
  prepareBulk: 'claim',
  decideAndAppend: 'append',
  appendBulkBatch: 'append',
  runCommand: 'append',
  deliver: 'relay',
  project: 'project',
};

/** The client's view of an activity being retried: its step, name, attempt, since when and a code, not the error text. */
export function safeRetryOf(activity: string, attempt: number, failureType: string | null | undefined, times: { since?: string; next_attempt_at?: string } = {}): RetryView {
  const code = codeOf(failureType, 'DEPENDENCY_FAILED');
  const why = SAFE_MESSAGES[code] ?? code;
  const step = STEP_OF_ACTIVITY[activity] ?? 'other';
  return {
    activity,
    step,
    attempt,
    ...times,
    code,
    last_failure: `attempt ${attempt} of ${activity} (step ${step}${times.since ? `, waiting since ${times.since}` : ''}) failed (${why}); it is retried until it succeeds`,
  };
}

export const SAFE_DELIVERY_ERROR = 'the last delivery attempt failed; it is retried';

/** Every text a raw error carries, for the log: its message and those of its causes. */
export function rawTextOf(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (e instanceof Error) {
      parts.push(`${e.name}: ${e.message}`);
      e = (e as { cause?: unknown }).cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.join(' <- ');
}

/**
 * How the typed errors of the adapters reach Temporal. Temporal decides whether to retry from an
 * ApplicationFailure's nonRetryable flag or its type, never from fields of our own error classes:
 * an error thrown as is would be retried forever under its class name. So every typed error leaves
 * an activity as an ApplicationFailure whose type is its code (what GET /commands/{id} shows), and
 * whether it is final is read from FAILURE_CODES alone, whichever adapter threw it: one code, one
 * outcome.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { NON_RETRYABLE_TYPES } from '../contracts/refusals';

/** What a failure that stops retries carries as its first detail: the status view reads the code from it. */
export interface FailureData {
  code: string;
  message: string;
  details: { path: string; message: string }[];
}

export type FailureOutcome = 'final' | 'retry';

/**
 * Every code an adapter error may carry out of an activity. `final` ends the command FAILED with
 * the code; `retry` keeps it RETRYING with the code as the reason. The README lists both sets
 * (test/unit/activity-failures.unit.test.ts holds it to this table).
 */
export const FAILURE_CODES: Readonly<Record<string, FailureOutcome>> = {
  // S3 and the ledger disagree about a stream version: only a repair of the store can end it.
  LEDGER_STREAM_CONFLICT: 'final',
  // The relay was asked to deliver an event without a ledger row: its caller skipped a step.
  EVENT_NOT_RECORDED: 'final',
  // An event id already names another stored event.
  EVENT_ID_REUSED: 'final',
  // The event itself is not valid (for the store to append, the key encoding, or the projector to
  // read): the same event fails the same way on every attempt.
  INVALID_EVENT: 'final',
  // The stored data contradicts itself (a gap, a vanished index object).
  STORE_CORRUPTED: 'final',
  // A ledger row cannot be turned into a Kafka message.
  KAFKA_MESSAGE_INVALID: 'final',
  // A rebuild pointed at a schema that already holds streams.
  REBUILD_TARGET_NOT_EMPTY: 'final',
  REBUILD_TARGET_IS_LIVE: 'final',
  // An argument the read models refuse.
  INVALID_QUERY: 'final',
  // The command id was stored for another request (decideAndAppend answers it as a refusal itself).
  IDEMPOTENCY_KEY_REUSED: 'final',
  // Retried: the event is in S3, so the command is not undone; a fix of code or data lets it finish.
  EVENT_NOT_RECORDABLE: 'retry',
  EVENT_NOT_PROJECTABLE: 'retry',
  // Retried: they clear once another writer, the reconciliation or a service catches up.
  PROJECTION_GAP: 'retry',
  READ_MODELS_BEHIND: 'retry',
  // Search has not projected the database life yet (its creation is on its way).
  SEARCH_INDEX_BEHIND: 'retry',
  // OpenSearch refused documents: a fix of the mapping or the data lets them in.
  SEARCH_NOT_PROJECTABLE: 'retry',
  PREDECESSOR_NOT_DELIVERED: 'retry',
  KAFKA_PUBLISH_FAILED: 'retry',
  EVENT_UNAVAILABLE: 'retry',
  // An object not there (yet): an append still in flight writes it.
  EVENT_NOT_FOUND: 'retry',
  // The command's events are stored already: the next attempt reads them instead of appending.
  COMMAND_APPENDED: 'retry',
  // Another writer took the version: re-read and decide again. A command that named its expected
  // version is refused by decideAndAppend itself, before this table is consulted.
  VERSION_CONFLICT: 'retry',
};

/** Whether a code ends retries; a code missing from the table is retried like any untyped error. */
export const isFinalCode = (code: string): boolean => FAILURE_CODES[code] === 'final';

/**
 * The error as an activity should throw it. Untyped errors pass through unchanged (Temporal retries
 * them under their class name); so does an ApplicationFailure built elsewhere.
 */
export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  const code = codeOf(err);
  if (code === undefined) return err;
  logCause(code, err);
  const message = (err as Error).message;
  if (isFinalCode(code)) {
    const data: FailureData = { code, message, details: [] };
    return ApplicationFailure.create({ type: code, message, details: [data], nonRetryable: true });
  }
  // The workflow's retry policy stops on VERSION_CONFLICT (a refusal when the client named its
  // version), so a conflict meant to be retried keeps its class name as its type.
  if (NON_RETRYABLE_TYPES.includes(code)) return err;
  return ApplicationFailure.create({ type: code, message, nonRetryable: false });
}

/** Wraps each activity of a set so that what it throws goes through toActivityFailure. */
export function withFailureMapping<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  const mapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    mapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toActivityFailure(err);
      }
    };
  }
  return mapped as T;
}

/** The code of an adapter error named in FAILURE_CODES; anything else counts as untyped. */
function codeOf(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && Object.hasOwn(FAILURE_CODES, code) ? code : undefined;
}

/** The failure carries only our own message; what PostgreSQL or S3 said stays in the worker's log. */
function logCause(code: string, err: unknown): void {
  const cause = (err as { cause?: unknown }).cause;
  if (cause === undefined) return;
  activityLog('activity failed', { code, error: String((err as Error).message), cause: String((cause as Error)?.message ?? cause) });
}

/** A warning in the activity's log; outside an activity (a direct call in a test or script) there is none to write to. */
export function activityLog(message: string, fields: Record<string, unknown>): void {
  let log;
  try {
    log = Context.current().log;
  } catch {
    return;
  }
  log.warn(message, fields);
}

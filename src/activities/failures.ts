/**
 * How the typed errors of the adapters reach Temporal. Temporal decides whether to retry from an
 * ApplicationFailure's nonRetryable flag or its type, never from fields of our own error classes:
 * an error carrying `retryable = false` but thrown as is would be retried forever under its class
 * name. So every typed error leaves an activity as an ApplicationFailure whose type is its code
 * (what GET /commands/{id} shows) and whose nonRetryable flag is its `retryable` flag inverted.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { EventStoreError } from '../adapters/event-store';
import { ReadModelError } from '../adapters/read-model-errors';
import { NON_RETRYABLE_TYPES } from '../workflows/definitions';

/** What a failure that stops retries carries as its first detail: the status view reads the code from it. */
export interface FailureData {
  code: string;
  message: string;
  details: { path: string; message: string }[];
}

/** Event-store codes that no retry can fix; a version conflict is retried (re-read and re-decided). */
const FINAL_STORE_CODES = new Set(['EVENT_ID_REUSED', 'INVALID_EVENT']);

/**
 * The error as an activity should throw it. Untyped errors pass through unchanged (Temporal retries
 * them under their class name); so does an ApplicationFailure built elsewhere.
 */
export function toActivityFailure(err: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  const typed = typedOf(err);
  if (typed === undefined) return err;
  logCause(typed.code, err);
  const message = (err as Error).message;
  if (!typed.retryable) {
    const data: FailureData = { code: typed.code, message, details: [] };
    return ApplicationFailure.create({ type: typed.code, message, details: [data], nonRetryable: true });
  }
  // A retryable error must not take a type the workflow's retry policy lists as final.
  if (NON_RETRYABLE_TYPES.includes(typed.code)) return err;
  return ApplicationFailure.create({ type: typed.code, message, nonRetryable: false });
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

function typedOf(err: unknown): { code: string; retryable: boolean } | undefined {
  if (err instanceof EventStoreError) return FINAL_STORE_CODES.has(err.code) ? { code: err.code, retryable: false } : undefined;
  // A projection gap closes once the predecessor is projected; an event the projector cannot read
  // may still be read by a fixed release: both retry, and show why.
  if (err instanceof ReadModelError) return { code: err.code, retryable: true };
  const e = err as { code?: unknown; retryable?: unknown } | null;
  if (e instanceof Error && typeof e.code === 'string' && typeof e.retryable === 'boolean') return { code: e.code, retryable: e.retryable };
  return undefined;
}

/** The failure carries only our own message; what PostgreSQL or S3 said stays in the worker's log. */
function logCause(code: string, err: unknown): void {
  const cause = (err as { cause?: unknown }).cause;
  if (cause === undefined) return;
  try {
    Context.current().log.warn('activity failed', { code, error: String((err as Error).message), cause: String((cause as Error)?.message ?? cause) });
  } catch {
    // outside an activity (a direct call in a test or script): nothing to log to
  }
}

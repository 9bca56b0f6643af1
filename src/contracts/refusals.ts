/**
 * The one list of refusals: codes a command is refused with, by the domain's rules or by the event
 * store's guards. A refusal ends the command FAILED at once (Temporal never retries it) and reaches
 * the client as a 4xx with the code.
 */
import { ERROR_CODES } from '../domain/errors';

/** The event store's refusals (the domain's carry their own status in HTTP_STATUS), with the status the API answers. */
export const STORE_REFUSAL_STATUS = {
  VERSION_CONFLICT: 409,
  EVENT_ID_REUSED: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
} as const;
export type StoreRefusalCode = keyof typeof STORE_REFUSAL_STATUS;

/** Failure types that no retry can fix: business refusals carry the domain's error code as their type. */
export const NON_RETRYABLE_TYPES: readonly string[] = [...ERROR_CODES, ...(Object.keys(STORE_REFUSAL_STATUS) as StoreRefusalCode[])];

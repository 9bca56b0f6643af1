/** Failures of the read-model adapter, typed by code so the API and activities can map them without parsing messages. */

export type ReadModelErrorCode =
  /**
   * A query argument the adapter refuses: a cursor it did not issue, a depth or limit out of range
   * (details.parameter names it). Same code as the API's 400 problem, so it passes through as one.
   */
  | 'INVALID_QUERY'
  /** An event arrived whose predecessors on its stream were never projected. */
  | 'PROJECTION_GAP'
  /** An event that cannot be projected (payload not of its declared type). */
  | 'INVALID_EVENT'
  /** A rebuild was pointed at a schema that already holds projected streams. */
  | 'REBUILD_TARGET_NOT_EMPTY'
  /** A rebuild step was pointed at the live read-model schema (a target, or a schema to retire or drop). */
  | 'REBUILD_TARGET_IS_LIVE'
  /**
   * A command needs the read models of a database life they have not reached yet (its deletion or
   * re-creation is still being projected): deciding from them would see the deleted life.
   */
  | 'READ_MODELS_BEHIND';

export class ReadModelError extends Error {
  readonly code: ReadModelErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ReadModelErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ReadModelError';
    this.code = code;
    this.details = details;
  }
}

export const isReadModelError = (err: unknown, code?: ReadModelErrorCode): err is ReadModelError => err instanceof ReadModelError && (code === undefined || err.code === code);

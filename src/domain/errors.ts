/**
 * Business refusals of the domain. decide() returns them as plain data inside a result union,
 * because Temporal serialises workflow/activity results as JSON and an Error subclass would lose
 * its prototype and fields on the way; DomainError is the throwing form for callers that prefer it.
 */

export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'INVALID_COMMAND',
  'DATABASE_NOT_FOUND',
  'DATABASE_EXISTS',
  'CLASS_NOT_FOUND',
  'CLASS_EXISTS',
  'CLASS_HAS_INSTANCES',
  'ABSTRACT_CLASS',
  'INSTANCE_NOT_FOUND',
  'INSTANCE_EXISTS',
  'BATCH_EXISTS',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** HTTP status hint per code, so the API maps refusals without its own table. */
export const HTTP_STATUS: Record<ErrorCode, 400 | 404 | 409 | 422> = {
  VALIDATION_FAILED: 422,
  INVALID_COMMAND: 400,
  DATABASE_NOT_FOUND: 404,
  DATABASE_EXISTS: 409,
  CLASS_NOT_FOUND: 404,
  CLASS_EXISTS: 409,
  CLASS_HAS_INSTANCES: 409,
  ABSTRACT_CLASS: 422,
  INSTANCE_NOT_FOUND: 404,
  INSTANCE_EXISTS: 409,
  BATCH_EXISTS: 409,
};

/** One violation; path uses dots and [index], relative to the command payload (e.g. "properties.tags[2]"). */
export interface ErrorDetail {
  path: string;
  message: string;
}

/** The JSON-safe form of a refusal. */
export interface DomainErrorData {
  code: ErrorCode;
  message: string;
  status: 400 | 404 | 409 | 422;
  details: ErrorDetail[];
}

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly status: 400 | 404 | 409 | 422;
  readonly details: ErrorDetail[];

  constructor(code: ErrorCode, message: string, details: ErrorDetail[] = []) {
    super(message);
    this.name = 'DomainError';
    this.code = code;
    this.status = HTTP_STATUS[code];
    this.details = details;
  }

  static fromData(data: DomainErrorData): DomainError {
    return new DomainError(data.code, data.message, data.details);
  }

  toData(): DomainErrorData {
    return { code: this.code, message: this.message, status: this.status, details: this.details };
  }

  toJSON(): DomainErrorData {
    return this.toData();
  }
}

export function domainError(code: ErrorCode, message: string, details: ErrorDetail[] = []): DomainErrorData {
  return { code, message, status: HTTP_STATUS[code], details };
}

export function isDomainErrorData(value: unknown): value is DomainErrorData {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.code === 'string' && (ERROR_CODES as readonly string[]).includes(v.code) && Array.isArray(v.details);
}

/**
 * RFC 9457 problem details. Every error the API answers goes through here, so clients can rely on
 * one shape and on `code` (stable, SCREAMING_SNAKE) rather than on titles or messages.
 */
import type { Duplex } from 'node:stream';
import type { Request, Response } from 'express';
import { STORE_REFUSAL_STATUS } from '../contracts/refusals';
import { ERROR_CODES, HTTP_STATUS, type ErrorCode, type ErrorDetail } from '../domain/errors';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://spice-oms.dev/problems/';

/** Codes the HTTP layer adds to the domain's (which keep their own status hints). */
export const API_PROBLEM_STATUS = {
  MALFORMED_JSON: 400,
  MALFORMED_REQUEST: 400,
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  INVALID_ID: 400,
  INVALID_HEADER: 400,
  INVALID_QUERY: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  TOO_MANY_COMMANDS: 429,
  API_KEY_EXISTS: 409,
  API_KEY_NOT_FOUND: 404,
  NOT_FOUND: 404,
  COMMAND_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  ...STORE_REFUSAL_STATUS,
  STORAGE_MODE_PRECONDITION_FAILED: 409,
  BODY_TOO_DEEP: 422,
  UNSTORABLE_STRING: 422,
  UNSAFE_NUMBER: 422,
  STRING_TOO_LONG: 422,
  TOO_MANY_ITEMS: 422,
  INTERNAL_ERROR: 500,
  NOT_READY: 503,
  SHUTTING_DOWN: 503,
} as const;
export type ApiProblemCode = keyof typeof API_PROBLEM_STATUS;
export type ProblemCode = ErrorCode | ApiProblemCode;

const TITLES: Record<ProblemCode, string> = {
  VALIDATION_FAILED: 'Request validation failed',
  INVALID_COMMAND: 'Invalid command',
  DATABASE_NOT_FOUND: 'Database not found',
  DATABASE_EXISTS: 'Database already exists',
  CLASS_NOT_FOUND: 'Ontology class not found',
  CLASS_EXISTS: 'Ontology class already exists',
  CLASS_HAS_INSTANCES: 'Ontology class still has instances',
  ABSTRACT_CLASS: 'Abstract class cannot be instantiated',
  INSTANCE_NOT_FOUND: 'Instance not found',
  INSTANCE_EXISTS: 'Instance already exists',
  BATCH_EXISTS: 'Batch already exists',
  MALFORMED_JSON: 'Malformed JSON body',
  MALFORMED_REQUEST: 'Malformed HTTP request',
  REQUEST_TIMEOUT: 'Request timeout',
  HEADERS_TOO_LARGE: 'Request headers too large',
  INVALID_ID: 'Invalid identifier in path',
  INVALID_HEADER: 'Invalid header',
  INVALID_QUERY: 'Invalid query parameter',
  UNAUTHENTICATED: 'API key missing or not valid',
  FORBIDDEN: 'Not allowed for this API key',
  RATE_LIMITED: 'Too many requests for this API key',
  TOO_MANY_COMMANDS: 'Too many commands in flight for this API key',
  API_KEY_EXISTS: 'API key name taken',
  API_KEY_NOT_FOUND: 'API key not found',
  NOT_FOUND: 'Not found',
  COMMAND_NOT_FOUND: 'Command not found',
  VERSION_NOT_FOUND: 'Version not found',
  METHOD_NOT_ALLOWED: 'Method not allowed',
  PAYLOAD_TOO_LARGE: 'Payload too large',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  VERSION_CONFLICT: 'Version conflict',
  EVENT_ID_REUSED: 'Event id reused',
  STORAGE_MODE_PRECONDITION_FAILED: 'Storage mode switch refused: preconditions not met',
  IDEMPOTENCY_KEY_REUSED: 'Idempotency key reused with a different request',
  BODY_TOO_DEEP: 'Request body nested too deeply',
  UNSTORABLE_STRING: 'String with characters that cannot be stored',
  UNSAFE_NUMBER: 'Number that cannot be kept exactly',
  STRING_TOO_LONG: 'String too long',
  TOO_MANY_ITEMS: 'Too many items in one request',
  INTERNAL_ERROR: 'Internal server error',
  NOT_READY: 'Service not ready',
  SHUTTING_DOWN: 'Server shutting down',
};

export function isKnownCode(code: string): code is ProblemCode {
  return (ERROR_CODES as readonly string[]).includes(code) || Object.prototype.hasOwnProperty.call(API_PROBLEM_STATUS, code);
}

export function statusOfCode(code: string): number | undefined {
  if ((ERROR_CODES as readonly string[]).includes(code)) return HTTP_STATUS[code as ErrorCode];
  if (Object.prototype.hasOwnProperty.call(API_PROBLEM_STATUS, code)) return API_PROBLEM_STATUS[code as ApiProblemCode];
  return undefined;
}

export const problemTypeOf = (code: string): string => PROBLEM_TYPE_BASE + code.toLowerCase().replace(/_/g, '-');

export const titleOf = (code: string): string => (isKnownCode(code) ? TITLES[code] : code.charAt(0) + code.slice(1).toLowerCase().replace(/_/g, ' '));

export interface ProblemInit {
  code: string;
  detail: string;
  /** Defaults to the code's status. */
  status?: number;
  errors?: ErrorDetail[];
  /** Extension members (RFC 9457 §3.2), e.g. command_id or current_version. */
  extensions?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** Thrown anywhere in a handler; the error handler renders it. */
export class ProblemError extends Error {
  readonly code: string;
  readonly status: number;
  readonly errors?: ErrorDetail[];
  readonly extensions?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  constructor(init: ProblemInit) {
    super(init.detail);
    this.name = 'ProblemError';
    this.code = init.code;
    this.status = init.status ?? statusOfCode(init.code) ?? 500;
    this.errors = init.errors;
    this.extensions = init.extensions;
    this.headers = init.headers;
  }
}

export const problem = (code: ProblemCode, detail: string, more: Omit<ProblemInit, 'code' | 'detail'> = {}): ProblemError => new ProblemError({ code, detail, ...more });

/**
 * Node's HTTP parser refuses some requests before express sees them (a NUL or another control
 * byte in a header such as X-Actor, headers over the size limit, a request that never finishes)
 * and would answer a bare 400 without a body; this answers them in the same problem+json shape.
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const code: ApiProblemCode = err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'MALFORMED_REQUEST';
  const status = API_PROBLEM_STATUS[code];
  const body = JSON.stringify({
    type: problemTypeOf(code),
    title: titleOf(code),
    status,
    detail: code === 'MALFORMED_REQUEST' ? 'the request could not be parsed as HTTP/1.1 (e.g. a control character in a header)' : titleOf(code).toLowerCase(),
    code,
  });
  socket.end(`HTTP/1.1 ${status} ${titleOf(code)}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export function sendProblem(req: Request, res: Response, p: ProblemError): void {
  const body: Record<string, unknown> = {
    ...p.extensions,
    type: problemTypeOf(p.code),
    title: titleOf(p.code),
    status: p.status,
    detail: p.message,
    code: p.code,
    // The path alone: query strings may carry data the client would not want echoed into logs.
    instance: (req.originalUrl ?? req.url).split('?')[0],
  };
  if (p.errors !== undefined && p.errors.length > 0) body.errors = p.errors;
  const requestId = res.getHeader('X-Request-Id');
  if (typeof requestId === 'string') body.request_id = requestId;
  for (const [name, value] of Object.entries(p.headers ?? {})) res.setHeader(name, value);
  res.locals.problemCode = p.code;
  res.status(p.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

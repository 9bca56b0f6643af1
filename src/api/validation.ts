/**
 * Turning untrusted HTTP input into validated values, or into a ProblemError before anything
 * reaches a port. Payload rules are the domain's zod schemas; this module only adds what is
 * HTTP-specific (path segments, headers, query strings).
 */
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import { batchIdSchema, databaseNameSchema, instanceIdSchema } from '../domain/commands';
import { MAX_STREAM_VERSION } from '../domain/identifiers';
import { classIdSchema } from '../domain/ontology-class';
import { formatPath } from '../domain/paths';
import { refusedCharacterOf } from '../domain/text';
import type { ErrorDetail } from '../domain/errors';
import { problem } from './problem';

export function issuesToErrors(issues: readonly z.core.$ZodIssue[], prefix: PropertyKey[] = []): ErrorDetail[] {
  return issues.map((issue) => ({ path: formatPath([...prefix, ...issue.path]), message: issue.message }));
}

/**
 * Validates a request body; every issue is reported, not only the first. Depth, characters,
 * numbers and reserved keys were checked before (body-inspection.ts, once per request).
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const errors = issuesToErrors(parsed.error.issues);
    throw problem('VALIDATION_FAILED', `the request body has ${errors.length} problem(s)`, { errors });
  }
  return parsed.data;
}

/** Query values reach PostgreSQL as parameters (filters, search text), which refuse what a column would. */
function refuseUnstorableQuery(query: unknown): void {
  if (!isPlainObject(query)) return;
  const errors: ErrorDetail[] = [];
  for (const [key, value] of Object.entries(query)) {
    for (const text of [key, ...(Array.isArray(value) ? value : [value])]) {
      const refused = typeof text === 'string' ? refusedCharacterOf(text) : undefined;
      if (refused !== undefined) errors.push({ path: key, message: refused });
    }
  }
  if (errors.length > 0) throw problem('UNSTORABLE_STRING', 'the query string contains characters that cannot be stored or searched', { errors });
}

export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.output<S> {
  refuseUnstorableQuery(query);
  const parsed = schema.safeParse(query);
  if (!parsed.success) {
    const errors = issuesToErrors(parsed.error.issues);
    throw problem('INVALID_QUERY', `the query string has ${errors.length} problem(s)`, { errors });
  }
  return parsed.data;
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A body field that duplicates a path segment must agree with it; then the path's value is used,
 * so the schema sees one consistent object. Non-objects pass through for the schema to refuse.
 */
export function withPathField(body: unknown, field: string, value: string): unknown {
  if (!isPlainObject(body)) return body;
  if (Object.prototype.hasOwnProperty.call(body, field) && body[field] !== value) {
    throw problem('VALIDATION_FAILED', `'${field}' in the body must match the path or be left out`, {
      errors: [{ path: field, message: `must equal '${value}' (from the path) or be absent` }],
    });
  }
  return { ...body, [field]: value };
}

// ---- path segments ----------------------------------------------------------------------------

/** Command ids come from the gateway (possibly derived from an Idempotency-Key), so the rule is the id charset, longer. */
export const commandIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}$/, 'must be a command id');
export const versionParamSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,9}$/, `must be an integer from 1 to ${MAX_STREAM_VERSION}`)
  .transform(Number)
  .pipe(z.number().max(MAX_STREAM_VERSION, `must be an integer from 1 to ${MAX_STREAM_VERSION}`));

/** Express route parameter name -> the domain rule it must satisfy. */
export const PATH_PARAMS = {
  db: databaseNameSchema,
  classId: classIdSchema,
  id: instanceIdSchema,
  commandId: commandIdSchema,
  batchId: batchIdSchema,
  version: versionParamSchema,
  keyId: z.string().regex(/^[0-9a-f]{12}$/, 'an API key id: 12 hexadecimal digits'),
} as const;
export type PathParam = keyof typeof PATH_PARAMS;

export function paramValidator(name: PathParam) {
  return (_req: Request, _res: Response, next: NextFunction, value: unknown): void => {
    const parsed = PATH_PARAMS[name].safeParse(value);
    if (!parsed.success) {
      next(
        problem('INVALID_ID', `path parameter '${name}' is not a valid identifier`, {
          errors: [{ path: name, message: parsed.error.issues[0]?.message ?? 'invalid' }],
        }),
      );
      return;
    }
    next();
  };
}

const MAX_SEGMENT = 512;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const UNSAFE_DECODED = /[\u0000-\u001f\u007f/\\]/;

/**
 * Refuses hostile path segments before routing, so they get 400 INVALID_ID even where no route
 * matches: dot segments, encoded separators, control characters, bad percent-encoding, overlong.
 */
export function rejectHostilePaths(req: Request, _res: Response, next: NextFunction): void {
  const raw = (req.originalUrl ?? req.url).split('?')[0];
  for (const segment of raw.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      next(problem('INVALID_ID', 'a path segment is not valid percent-encoded UTF-8'));
      return;
    }
    if (decoded === '.' || decoded === '..' || UNSAFE_DECODED.test(decoded) || segment.length > MAX_SEGMENT) {
      next(
        problem('INVALID_ID', 'a path segment contains a dot segment, a separator, a control character or is too long', {
          errors: [{ path: 'path', message: `refused segment '${segment.slice(0, 64)}'` }],
        }),
      );
      return;
    }
  }
  next();
}

// ---- headers ----------------------------------------------------------------------------------

const VISIBLE_ASCII_1_200 = /^[\x21-\x7e]{1,200}$/;
export const ACTOR_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.@:+-]{0,199}$/;

function singleHeader(req: Request, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  if (Array.isArray(value)) throw invalidHeader(name, 'must be sent once');
  return value;
}

const invalidHeader = (name: string, message: string) => problem('INVALID_HEADER', `header ${name} ${message}`, { errors: [{ path: `headers.${name}`, message }] });

export function idempotencyKeyOf(req: Request): string | undefined {
  const value = singleHeader(req, 'Idempotency-Key');
  if (value === undefined) return undefined;
  if (!VISIBLE_ASCII_1_200.test(value)) throw invalidHeader('Idempotency-Key', 'must be 1-200 visible ASCII characters');
  return value;
}

/** Accepts the bare number and the quoted entity-tag form (`3` and `"3"`), as our ETags are `"version"`. */
export function expectedVersionOf(req: Request): number | undefined {
  const value = singleHeader(req, 'If-Match');
  if (value === undefined) return undefined;
  const m = /^\s*(?:"(\d{1,10})"|(\d{1,10}))\s*$/.exec(value);
  const version = m === null ? NaN : Number(m[1] ?? m[2]);
  if (!(version <= MAX_STREAM_VERSION)) throw invalidHeader('If-Match', `must be an integer version from 0 to ${MAX_STREAM_VERSION}, e.g. 3 or "3"`);
  return version;
}

export function actorOf(req: Request): string {
  const value = singleHeader(req, 'X-Actor');
  if (value === undefined) return 'anonymous';
  if (!ACTOR_PATTERN.test(value)) throw invalidHeader('X-Actor', `must match ${ACTOR_PATTERN.source}`);
  return value;
}

/**
 * How long a write may wait for its command: `?wait=true` means the server's bound, `Prefer:
 * wait=N` asks for N seconds (RFC 7240); both are capped by maxWaitMs. A malformed Prefer is
 * ignored as RFC 7240 asks, a malformed ?wait is the client's explicit mistake and refused.
 */
export function waitOf(req: Request, maxWaitMs: number): { ms: number; preferApplied?: string } {
  const q = req.query.wait;
  if (q !== undefined) {
    if (q === 'true' || q === '') return { ms: maxWaitMs };
    if (q === 'false') return { ms: 0 };
    throw problem('INVALID_QUERY', "query parameter 'wait' must be true or false", {
      errors: [{ path: 'wait', message: 'must be true or false' }],
    });
  }
  const prefer = req.headers.prefer;
  const joined = Array.isArray(prefer) ? prefer.join(',') : prefer;
  if (joined === undefined) return { ms: 0 };
  for (const pref of joined.split(',')) {
    const m = /^\s*wait\s*=\s*"?(\d{1,7})"?\s*(?:;.*)?$/i.exec(pref);
    if (m !== null) {
      const ms = Math.min(Number(m[1]) * 1000, maxWaitMs);
      return { ms, preferApplied: `wait=${Math.floor(ms / 1000)}` };
    }
  }
  return { ms: 0 };
}

// ---- query helpers ----------------------------------------------------------------------------

export const intParam = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, 'must be an integer')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

export const boolParam = z.enum(['true', 'false']).transform((v) => v === 'true');

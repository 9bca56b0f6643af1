/**
 * Access control of the HTTP API (README "Access control"): who is calling (a bearer API key), what
 * its role and databases let it do on each route (declared in the route table, so no route goes
 * without), and how much it may ask (requests per window, bulk requests per window, commands in
 * flight), each refusal a problem+json.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { decideAccess, type Principal } from '../domain/access';
import type { ApiKeys } from './api-keys';
import { problem } from './problem';
import { actorOf } from './validation';
import type { RouteSpec } from './routes/route-spec';

export interface AccessLimits {
  /** Requests per key in each window (every route but the public ones). */
  requestsPerWindow: number;
  windowS: number;
  /** Bulk requests per key in each window, counted on top of the general limit. */
  bulkPerWindow: number;
  /** Commands a key has started through this process that have not finished yet. */
  maxInflightCommands: number;
}

export interface AccessControl {
  /** 'off' is the development switch: no key needed, every caller acts as an admin. */
  mode: 'on' | 'off';
  keys: ApiKeys;
  limits: AccessLimits;
}

/** Generous limits for development and unit tests; the server takes them from the config. */
export const DEFAULT_ACCESS_LIMITS: AccessLimits = { requestsPerWindow: 600, windowS: 60, bulkPerWindow: 10, maxInflightCommands: 100 };

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export const principalOfRequest = (res: Response): Principal | undefined => res.locals.principal as Principal | undefined;
/** True when the development switch is on: no key was asked for. */
export const accessIsOff = (res: Response): boolean => res.locals.accessOff === true;

/**
 * Who acts: the API key's identity. X-Actor is still checked as a header (a malformed one is
 * refused as before) but its value is only taken with access off, the development switch.
 */
export function actorOfRequest(req: Request, res: Response): string {
  const claimed = actorOf(req);
  const principal = principalOfRequest(res);
  return accessIsOff(res) || principal === undefined ? claimed : principal.actor;
}

const unauthenticated = (detail: string, error?: string) =>
  problem('UNAUTHENTICATED', detail, { headers: { 'WWW-Authenticate': error ? `Bearer realm="spice-oms", error="${error}"` : 'Bearer realm="spice-oms"' } });

const retryAfter = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

/** The bearer token of the request; undefined without an Authorization header. */
function bearerOf(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+([\x21-\x7e]{1,512})\s*$/i.exec(header);
  if (m === null) throw unauthenticated('the Authorization header must be: Bearer <API key>', 'invalid_request');
  return m[1];
}

export interface AccessGuard {
  /** App-wide, before any body is read: identifies the caller and counts its request. */
  authenticate: RequestHandler;
  /** Per route, from its declared access: role, databases and the bulk limit. */
  authorize(spec: Pick<RouteSpec, 'access' | 'databaseOf' | 'limit' | 'path'>): RequestHandler;
  /** Before a command is submitted: refuses a key with too many commands in flight. */
  admitCommand(res: Response, isClosed: (commandId: string) => Promise<boolean>): Promise<void>;
  /** After a command was submitted (tracked until it is seen closed). */
  trackCommand(res: Response, commandId: string): void;
}

/**
 * Commands in flight per key in this process. Closed ones are only looked for when a key reaches
 * its limit, at most once a second, so the common case costs nothing.
 */
class InflightCommands {
  private readonly byKey = new Map<string, { ids: Set<string>; checkedAt: number }>();

  constructor(private readonly max: number) {}

  async admit(keyId: string, isClosed: (commandId: string) => Promise<boolean>): Promise<void> {
    const entry = this.byKey.get(keyId);
    if (entry === undefined || entry.ids.size < this.max) return;
    if (Date.now() - entry.checkedAt >= 1000) {
      entry.checkedAt = Date.now();
      const ids = [...entry.ids];
      const closed = await Promise.all(ids.map((id) => isClosed(id).catch(() => false)));
      ids.forEach((id, i) => closed[i] && entry.ids.delete(id));
    }
    if (entry.ids.size >= this.max) {
      throw problem('TOO_MANY_COMMANDS', `this key has ${entry.ids.size} commands in flight (at most ${this.max}); wait for some to finish`, { headers: { 'Retry-After': '1' } });
    }
  }

  track(keyId: string, commandId: string): void {
    const entry = this.byKey.get(keyId) ?? { ids: new Set<string>(), checkedAt: 0 };
    entry.ids.add(commandId);
    this.byKey.set(keyId, entry);
  }
}

async function consume(limiter: RateLimiterMemory, key: string, what: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (res) {
    if (!(res instanceof RateLimiterRes)) throw res;
    const after = retryAfter(res.msBeforeNext);
    throw problem('RATE_LIMITED', `${what} limit of this key reached; retry after ${after} s`, { headers: { 'Retry-After': after } });
  }
}

export function createAccessGuard(access: AccessControl): AccessGuard {
  const { limits } = access;
  const requests = new RateLimiterMemory({ points: limits.requestsPerWindow, duration: limits.windowS });
  const bulk = new RateLimiterMemory({ points: limits.bulkPerWindow, duration: limits.windowS });
  const inflight = new InflightCommands(limits.maxInflightCommands);

  const authenticate: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
    if (access.mode === 'off') {
      res.locals.accessOff = true;
      return next();
    }
    (async () => {
      const token = bearerOf(req);
      if (token === undefined) {
        // Every route that takes a body needs a key: refused before the body is read.
        if (BODY_METHODS.has(req.method)) throw unauthenticated('this request needs an API key: Authorization: Bearer <key>');
        return;
      }
      const principal = await access.keys.authenticate(token).catch((err: unknown) => {
        // The key store (PostgreSQL) failing is not the client's fault, nor an unexpected one.
        (res.locals.log as { warn?: (o: object, m: string) => void } | undefined)?.warn?.({ err }, 'API key check failed');
        throw problem('NOT_READY', 'API keys cannot be checked right now; retry shortly', { headers: { 'Retry-After': '1' } });
      });
      if (principal === null) throw unauthenticated('the API key is not valid (unknown, malformed or revoked)', 'invalid_token');
      res.locals.principal = principal;
      await consume(requests, principal.key_id, 'the request rate');
    })().then(() => next(), next);
  };

  const authorize = (spec: Pick<RouteSpec, 'access' | 'databaseOf' | 'limit' | 'path'>): RequestHandler => {
    return (req, res, next) => {
      if (spec.access === 'public' || accessIsOff(res)) return next();
      const principal = principalOfRequest(res);
      if (principal === undefined) return next(unauthenticated('this request needs an API key: Authorization: Bearer <key>'));
      const db = spec.databaseOf ? spec.databaseOf(req) : (req.params.db as string | undefined);
      const decision = decideAccess(principal, spec.access, db);
      if (!decision.allowed) {
        const detail =
          decision.reason === 'role' ? `this needs the role '${spec.access}'; the key '${principal.name}' is a ${principal.role}` : `the key '${principal.name}' may not touch database '${db}'`;
        return next(problem('FORBIDDEN', detail));
      }
      if (spec.limit !== 'bulk') return next();
      consume(bulk, principal.key_id, 'the bulk request').then(() => next(), next);
    };
  };

  return {
    authenticate,
    authorize,
    async admitCommand(res, isClosed) {
      const principal = principalOfRequest(res);
      if (principal !== undefined) await inflight.admit(principal.key_id, isClosed);
    },
    trackCommand(res, commandId) {
      const principal = principalOfRequest(res);
      if (principal !== undefined) inflight.track(principal.key_id, commandId);
    },
  };
}

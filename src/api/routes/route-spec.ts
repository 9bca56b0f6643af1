/**
 * Routes are declared as data so that one list drives both the express router (including 405
 * answers with Allow) and the OpenAPI document: a route cannot exist without being documented.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import type { z } from 'zod';
import type { Access } from '../../domain/access';
import { problem } from '../problem';

export type Method = 'get' | 'post' | 'put' | 'delete';

export interface ResponseDoc {
  description: string;
  /** A name under components.schemas. */
  schema?: string;
}

export interface RouteSpec {
  method: Method;
  /** Express 5 path relative to /api/v1 (":name" params, "\\:" for a literal colon). */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /**
   * Who may call it: 'public', or the least role a key needs (reader < writer < admin). Required,
   * so no route exists without a decision; every path under /admin must say 'admin'.
   */
  access: Access;
  /** The database the request touches, when not the :db path parameter (a key limited to databases is checked against it). */
  databaseOf?: (req: Request) => string | undefined;
  /** 'bulk': also counted against the key's bulk limit. */
  limit?: 'bulk';
  /** A write: takes Idempotency-Key, If-Match, X-Actor, Prefer and ?wait. */
  command?: { type: string; creates: boolean };
  body?: {
    schema: z.ZodType;
    /** Fields the schema requires but the route fills in from the path (documented as optional). */
    fromPath?: string[];
    description?: string;
    /** The handler reads the body as a stream (a bulk): the JSON body parser leaves it alone. */
    streamed?: boolean;
  };
  query?: z.ZodObject;
  /** Parameters a zod object cannot describe (e.g. deepObject filters). */
  extraQuery?: Array<Record<string, unknown>>;
  responses: Record<string, ResponseDoc>;
  handler: (req: Request, res: Response) => Promise<void> | void;
}

const ALLOW_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'] as const;

/**
 * `prefix` only labels metrics and logs with the full route pattern; `guard` builds the access
 * check that runs before each route's handler, from the route's own declaration.
 */
export function mount(router: Router, specs: readonly RouteSpec[], guard: (spec: RouteSpec) => RequestHandler, prefix = ''): void {
  const byPath = new Map<string, RouteSpec[]>();
  for (const spec of specs) {
    if (/^\/admin(\/|$)/.test(spec.path) && spec.access !== 'admin') throw new Error(`route ${spec.method} ${spec.path}: admin routes need access 'admin'`);
    byPath.set(spec.path, [...(byPath.get(spec.path) ?? []), spec]);
  }
  for (const [path, group] of byPath) {
    const route = router.route(path);
    route.all((_req, res, next) => {
      res.locals.route = prefix + path;
      next();
    });
    for (const spec of group) route[spec.method](guard(spec), spec.handler);
    const methods = new Set(group.map((s) => s.method));
    const allow = ALLOW_ORDER.filter((m) => m === 'OPTIONS' || methods.has(m === 'HEAD' ? 'get' : (m.toLowerCase() as Method)));
    route.all((req, res) => {
      if (req.method === 'OPTIONS') {
        res.setHeader('Allow', allow.join(', '));
        res.status(204).end();
        return;
      }
      throw problem('METHOD_NOT_ALLOWED', `${req.method} is not allowed here; allowed: ${allow.join(', ')}`, {
        headers: { Allow: allow.join(', ') },
      });
    });
  }
}

/** "/databases/:db/instances\\:bulk" -> "/databases/{db}/instances:bulk" */
export const openApiPath = (expressPath: string): string => expressPath.replace(/(?<!\\):([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}').replace(/\\:/g, ':');

export const pathParamsOf = (expressPath: string): string[] => [...expressPath.matchAll(/(?<!\\):([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);

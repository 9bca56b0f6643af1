/**
 * The express app over the ports. Order matters: hostile paths, content type and body size are
 * refused before routing and parsing, and every failure ends in the one problem+json handler.
 */
import { isUtf8 } from 'node:buffer';
import express, { type ErrorRequestHandler, type Express, type NextFunction, type Request, type Response } from 'express';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { DomainError, isDomainErrorData } from '../domain/errors';
import { bodyProblem, inspectBody } from './body-inspection';
import { createObservability } from './observability';
import { docsRouter } from './docs';
import { buildOpenApi } from './openapi';
import type { ApiPorts } from './ports';
import { isKnownCode, problem, ProblemError, sendProblem, statusOfCode } from './problem';
import { API_PREFIX, commandRoutes } from './routes/commands';
import { DEFAULT_HEALTH_TIMEOUT_MS, healthRoutes } from './routes/health';
import { readRoutes } from './routes/reads';
import { mount, type RouteSpec } from './routes/route-spec';
import { adminKeyRoutes } from './routes/admin-keys';
import { createAccessGuard } from './auth';
import { adminRoutes, subjectRoutes } from './routes/admin';
import { PATH_PARAMS, paramValidator, rejectHostilePaths, type PathParam } from './validation';

export interface AppOptions {
  /** Bound of each readiness check. */
  healthTimeoutMs?: number;
  /** Metrics registry; a fresh one (with process metrics) by default. */
  registry?: Registry;
}

const JSON_MEDIA_TYPE = /^application\/(?:json|[\w.+-]+\+json)$/;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Refuses writes without a JSON content type before the parser, which would otherwise skip them silently. */
function requireJson(req: Request, _res: Response, next: NextFunction): void {
  if (!BODY_METHODS.has(req.method)) return next();
  const mediaType = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!JSON_MEDIA_TYPE.test(mediaType)) {
    return next(
      problem('UNSUPPORTED_MEDIA_TYPE', `${req.method} needs Content-Type: application/json` + (mediaType ? `, got '${mediaType}'` : ''), {
        headers: { 'Accept-Post': 'application/json' },
      }),
    );
  }
  next();
}

/** Runs once per write, right after the parser: no route and no schema sees a body that fails it. */
function inspectBodies(ports: ApiPorts) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (!BODY_METHODS.has(req.method) || req.body === undefined) return next();
    const issues = inspectBody(req.body, ports.limits);
    next(issues.length > 0 ? bodyProblem(issues) : undefined);
  };
}

/**
 * The decoder would put U+FFFD in place of bytes that are not UTF-8 (an encoded lone surrogate
 * among them), silently changing what the client sent; JSON is UTF-8 (RFC 8259), so refuse it.
 */
function requireUtf8(_req: Request, _res: Response, raw: Buffer): void {
  if (!isUtf8(raw)) throw problem('MALFORMED_JSON', 'the body is not valid UTF-8');
}

/** Requests of routes whose handlers read the body themselves, as a stream (RouteSpec body.streamed). */
function streamedBodyRoutes(specs: readonly RouteSpec[]): (req: Request) => boolean {
  const patterns = specs
    .filter((s) => s.body?.streamed)
    .map((s) => ({
      method: s.method.toUpperCase(),
      // Express path -> RegExp: ":name" is one segment, "\\:" a literal colon.
      path: new RegExp(
        `^${s.path
          .split('\\:')
          .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:\w+/g, '[^/]+'))
          .join(':')}/?$`,
      ),
    }));
  return (req) => patterns.some((p) => p.method === req.method && p.path.test(req.path));
}

interface ParserError {
  type?: string;
  status?: number;
  message?: string;
}

function toProblem(err: unknown, bodyLimitBytes: number, logger: Logger, req: Request, res: Response): ProblemError {
  if (err instanceof ProblemError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as ParserError;
  switch (e.type) {
    case 'entity.parse.failed': {
      // JSON.parse words its error with a piece of the body: the client gets the position only.
      logger.warn({ req_id: res.locals.requestId, parse_error: e.message }, 'malformed JSON body');
      const at = /\bposition (\d+)/.exec(e.message ?? '');
      return problem('MALFORMED_JSON', `the body is not valid JSON${at ? ` (at position ${at[1]})` : ''}`);
    }
    case 'entity.too.large':
      return problem('PAYLOAD_TOO_LARGE', `the body exceeds the limit of ${bodyLimitBytes} bytes`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return problem('UNSUPPORTED_MEDIA_TYPE', e.message ?? 'unsupported encoding or charset');
    case 'request.aborted':
    case 'request.size.invalid':
      return problem('MALFORMED_JSON', e.message ?? 'the body could not be read');
  }
  if (err instanceof URIError) return problem('INVALID_ID', 'a path segment is not valid percent-encoding');
  // Ports may refuse with the domain's own errors (e.g. a gateway that checks an Idempotency-Key synchronously).
  if (err instanceof DomainError || isDomainErrorData(err)) {
    const d = err as { code: string; message: string; details: { path: string; message: string }[] };
    return new ProblemError({ code: d.code, detail: d.message, errors: d.details });
  }
  const coded = err as { code?: unknown; message?: unknown };
  if (typeof coded.code === 'string' && isKnownCode(coded.code) && (statusOfCode(coded.code) ?? 500) < 500) {
    return new ProblemError({ code: coded.code, detail: typeof coded.message === 'string' ? coded.message : coded.code });
  }
  logger.error({ err, req_id: res.locals.requestId, method: req.method, path: req.path }, 'unhandled error');
  return problem('INTERNAL_ERROR', 'an unexpected error occurred; see the server log with the request id');
}

/**
 * createApp(ports, logger?, options?): everything lives under /api/v1; /health/* and /metrics are
 * also served at the root, where probes and scrapers look for them by convention.
 */
export function createApp(ports: ApiPorts, logger: Logger = pino({ name: 'spice-oms-api' }), options: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  // Our ETags are stream versions (usable as If-Match); express's body-hash ETags would be mistaken for them.
  app.set('etag', false);
  // filter[prop]=value must stay a flat key; the extended parser would build objects (and arrays) from it.
  app.set('query parser', 'simple');

  const obs = createObservability(logger, options.registry);
  const guard = createAccessGuard(ports.access);
  const authorize = (spec: RouteSpec) => guard.authorize(spec);
  const health = healthRoutes(ports.health, options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS);
  const apiSpecs = [...commandRoutes(ports, guard), ...readRoutes(ports), ...adminKeyRoutes(ports.access.keys), ...adminRoutes(ports), ...subjectRoutes(ports), ...health];
  const openapi = buildOpenApi([
    { prefix: API_PREFIX, specs: apiSpecs },
    { prefix: '', specs: health },
  ]);

  app.use(obs.requestMiddleware);
  // A stopping process takes no new work; probes still see it (readiness answers not-ready).
  app.use((req, res, next) => {
    if (!ports.stopping?.aborted || req.path.startsWith('/health/') || req.path === '/metrics') return next();
    res.setHeader('Connection', 'close');
    res.setHeader('Retry-After', '1');
    next(problem('SHUTTING_DOWN', 'the server is shutting down; send the request again (another instance will take it)'));
  });
  app.use(rejectHostilePaths);
  app.get('/metrics', obs.metricsHandler);
  // Before any router reads a body: a write without a valid key is refused unread.
  app.use(guard.authenticate);

  const root = express.Router();
  mount(root, health, authorize);
  app.use(root);

  const streamed = streamedBodyRoutes(apiSpecs);
  const api = express.Router();
  api.use(requireJson);
  api.use(
    express.json({
      limit: ports.bodyLimitBytes,
      type: (req) =>
        !streamed(req as Request) &&
        JSON_MEDIA_TYPE.test(
          String(req.headers['content-type'] ?? '')
            .split(';')[0]
            .trim()
            .toLowerCase(),
        ),
      verify: requireUtf8,
    }),
  );
  api.use(inspectBodies(ports));
  for (const name of Object.keys(PATH_PARAMS) as PathParam[]) api.param(name, paramValidator(name));
  api.get('/openapi.json', (_req, res) => {
    res.locals.route = `${API_PREFIX}/openapi.json`;
    res.json(openapi);
  });
  // Public like the document it renders: the page and its static assets hold no data.
  api.use(docsRouter(API_PREFIX));
  mount(api, apiSpecs, authorize, API_PREFIX);
  app.use(API_PREFIX, api);

  app.use((req, _res, next) => next(problem('NOT_FOUND', `no route for ${req.method} ${req.path}`)));

  const errorHandler: ErrorRequestHandler = (err, req, res, next) => {
    if (res.headersSent) return next(err);
    sendProblem(req, res, toProblem(err, ports.bodyLimitBytes, logger, req, res));
  };
  app.use(errorHandler);
  return app;
}

/**
 * One log line and one histogram sample per request. Route labels are route patterns, never raw
 * paths: ids in paths would make the metric's cardinality grow with the data.
 */
import { randomUUID } from 'node:crypto';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Histogram, Registry, register as defaultRegistry } from 'prom-client';

const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;
export const UNMATCHED_ROUTE = 'unmatched';
const tracer = trace.getTracer('spice-oms');

export interface Observability {
  registry: Registry;
  requestMiddleware: (req: Request, res: Response, next: NextFunction) => void;
  metricsHandler: (req: Request, res: Response) => Promise<void>;
}

/** A registry of its own per app unless one is given, so several apps (tests) never clash on metric names. */
export function createObservability(logger: Logger, registry?: Registry): Observability {
  const reg = registry ?? new Registry();
  if (registry === undefined) collectDefaultMetrics({ register: reg });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route pattern and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [reg],
  });

  const requestMiddleware = (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    // The root of the command's trace (or a child of the caller's, from its traceparent header);
    // a no-op unless the process has set up tracing.
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer.startSpan(`HTTP ${req.method}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method } }, parent);
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    res.locals.requestId = requestId;
    // Details that must not reach the client (dependency errors) are logged with the request id.
    res.locals.log = logger.child({ req_id: requestId });
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = typeof res.locals.route === 'string' ? res.locals.route : UNMATCHED_ROUTE;
      duration.observe({ method: req.method, route, status_code: String(res.statusCode) }, seconds);
      span.updateName(`${req.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': res.statusCode });
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      const line = {
        req_id: requestId,
        method: req.method,
        path: (req.originalUrl ?? req.url).split('?')[0],
        route,
        status: res.statusCode,
        duration_ms: Math.round(seconds * 1e6) / 1e3,
        code: res.locals.problemCode,
        // command_id, workflow_id, aggregate, event_ids of the command the request submitted or read.
        ...(res.locals.command as Record<string, unknown> | undefined),
        ...(span.isRecording() ? { trace_id: span.spanContext().traceId } : {}),
      };
      if (res.statusCode >= 500) logger.error(line, 'request');
      else if (res.statusCode >= 400) logger.warn(line, 'request');
      else logger.info(line, 'request');
    });
    context.with(trace.setSpan(parent, span), next);
  };

  const metricsHandler = async (_req: Request, res: Response): Promise<void> => {
    res.locals.route = '/metrics';
    // The pipeline's metrics (src/contracts/metrics.ts) live in prom-client's default registry of
    // the process: served here too, for an embedded worker.
    const served = reg === defaultRegistry ? reg : withProcessCounters(reg);
    res.setHeader('Content-Type', served.contentType);
    res.send(await served.metrics());
  };

  return { registry: reg, requestMiddleware, metricsHandler };
}

/** The app's registry plus the default one; should both ever hold one name, the app's alone. */
function withProcessCounters(reg: Registry): Registry {
  try {
    return Registry.merge([reg, defaultRegistry]);
  } catch {
    return reg;
  }
}

/**
 * Liveness says only that the process answers (restarting it would not help otherwise);
 * readiness runs every dependency check, each bounded, so one hung service cannot hang the probe.
 */
import type { Logger } from 'pino';
import type { HealthCheck } from '../../ports/health';
import { problem } from '../problem';
import type { RouteSpec } from './route-spec';

export const DEFAULT_HEALTH_TIMEOUT_MS = 2000;

interface CheckOutcome {
  status: 'ok' | 'failed';
  duration_ms: number;
  /** Our words only: a dependency's own error names hosts, ports and queries. */
  error?: string;
}

const TIMED_OUT = Symbol('timed out');

async function runCheck(check: HealthCheck, timeoutMs: number, log: Logger | undefined): Promise<CheckOutcome> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
  });
  try {
    if ((await Promise.race([Promise.resolve().then(() => check.check()), timeout])) === TIMED_OUT) {
      return { status: 'failed', duration_ms: Date.now() - started, error: `timed out after ${timeoutMs} ms` };
    }
    return { status: 'ok', duration_ms: Date.now() - started };
  } catch (err) {
    log?.warn({ check: check.name, err: err instanceof Error ? err.message : String(err) }, 'readiness check failed');
    return { status: 'failed', duration_ms: Date.now() - started, error: 'the check failed; the server log has the reason under the request id' };
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(checks: readonly HealthCheck[], timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/health/live',
      operationId: 'live',
      summary: 'Liveness: 200 while the process runs',
      tag: 'health',
      access: 'public',
      responses: { '200': { description: 'Alive', schema: 'Health' } },
      handler: (_req, res) => {
        res.json({ status: 'ok' });
      },
    },
    {
      method: 'get',
      path: '/health/ready',
      operationId: 'ready',
      summary: `Readiness: every dependency check passes (each bounded by ${timeoutMs} ms)`,
      tag: 'health',
      access: 'public',
      responses: {
        '200': { description: 'Ready', schema: 'Health' },
        '503': { description: 'A dependency is failing; the problem lists which', schema: 'Problem' },
      },
      handler: async (_req, res) => {
        const log = res.locals.log as Logger | undefined;
        const outcomes = await Promise.all(checks.map(async (c) => [c.name, await runCheck(c, timeoutMs, log)] as const));
        const result = Object.fromEntries(outcomes);
        const failing = outcomes.filter(([, o]) => o.status !== 'ok');
        if (failing.length > 0) {
          throw problem('NOT_READY', `failing: ${failing.map(([name]) => name).join(', ')}`, {
            errors: failing.map(([name, o]) => ({ path: name, message: o.error ?? 'failed' })),
            extensions: { checks: result },
            headers: { 'Retry-After': '5' },
          });
        }
        res.json({ status: 'ok', checks: result });
      },
    },
  ];
}

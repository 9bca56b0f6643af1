/**
 * Liveness says only that the process answers (restarting it would not help otherwise);
 * readiness runs every dependency check, each bounded, so one hung service cannot hang the probe.
 */
import type { HealthCheck } from '../ports';
import { problem } from '../problem';
import type { RouteSpec } from './route-spec';

export const DEFAULT_HEALTH_TIMEOUT_MS = 2000;

interface CheckOutcome {
  status: 'ok' | 'failed';
  duration_ms: number;
  error?: string;
}

async function runCheck(check: HealthCheck, timeoutMs: number): Promise<CheckOutcome> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([Promise.resolve().then(() => check.check()), timeout]);
    return { status: 'ok', duration_ms: Date.now() - started };
  } catch (err) {
    return { status: 'failed', duration_ms: Date.now() - started, error: err instanceof Error ? err.message : String(err) };
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
      responses: {
        '200': { description: 'Ready', schema: 'Health' },
        '503': { description: 'A dependency is failing; the problem lists which', schema: 'Problem' },
      },
      handler: async (_req, res) => {
        const outcomes = await Promise.all(checks.map(async (c) => [c.name, await runCheck(c, timeoutMs)] as const));
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

/** What integration tests share: the stack's config and names that keep concurrent runs apart. */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { loadConfig, Config } from '../../src/app/config';

/**
 * The stack's config, with per-key limits out of the way (tests poll and write far faster than a
 * client should); test/e2e/access.e2e.test.ts sets its own small ones.
 */
export const TEST_LIMITS = { API_RATE_LIMIT: '1000000', API_BULK_RATE_LIMIT: '100000', API_MAX_INFLIGHT_COMMANDS: '1000000' } as const;
export const testConfig: Config = loadConfig({ ...TEST_LIMITS, ...process.env });

/**
 * `npm run test:full` (SPICE_TEST_SCALE=full) runs the sizes the issues name; `npm test` runs
 * smaller ones that take the same code paths, so the suite stays short on a 2-core machine.
 */
export const fullScale = process.env.SPICE_TEST_SCALE === 'full';
export const scaled = (suite: number, full: number): number => (fullScale ? full : suite);

/** A short unique, lowercase name: a bucket prefix, schema, topic or stream id of one test run. */
export function uniqueName(prefix: string): string {
  const token = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  // The run's teardown drops what the names left behind in shared services (test/support/global-teardown.ts).
  if (process.env.SPICE_TEST_NAMES_FILE) appendFileSync(process.env.SPICE_TEST_NAMES_FILE, `${token}\n`);
  return `${prefix}-${token}`.toLowerCase();
}

export async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await fn();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs}ms; last value: ${JSON.stringify(last)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, everyMs));
    last = await fn();
  }
  return last;
}

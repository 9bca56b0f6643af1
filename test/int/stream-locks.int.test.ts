/**
 * Stream locks on the real PostgreSQL: writers of one hot stream must not take every connection of
 * the lock pool, or every other stream's append waits behind them (found by the 100-writer e2e:
 * appends failed on the pool's connect timeout and were retried for minutes).
 */
import { createPool } from '../../src/adapters/postgres/postgres';
import { PgStreamLocker } from '../../src/adapters/postgres/stream-locks';
import { testConfig, uniqueName } from '../support/env';

const pool = createPool(testConfig, { max: 2 });
afterAll(() => pool.end());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("another stream's writer is not queued behind a hot stream's writers", async () => {
  const locks = new PgStreamLocker(pool);
  const hot = { aggregate_type: 'instance', aggregate_id: uniqueName('hot') };
  const other = { aggregate_type: 'instance', aggregate_id: uniqueName('other') };
  const finished: string[] = [];
  let inside = 0;
  let most = 0;
  const hotWriters = Array.from({ length: 10 }, (_, i) =>
    locks.run(hot, async () => {
      most = Math.max(most, ++inside);
      await sleep(50);
      inside--;
      finished.push(`hot${i}`);
    }),
  );
  await sleep(20);
  const otherWriter = locks.run(other, async () => {
    finished.push('other');
  });
  await Promise.all([...hotWriters, otherWriter]);
  // The hot writers still take turns; the other stream's writer did not wait for them.
  expect(most).toBe(1);
  expect(finished.indexOf('other')).toBeLessThanOrEqual(1);
  expect(finished.filter((f) => f.startsWith('hot'))).toEqual(Array.from({ length: 10 }, (_, i) => `hot${i}`));
});

test('two lockers (two processes) on one stream still exclude each other through PostgreSQL', async () => {
  const a = new PgStreamLocker(pool);
  const b = new PgStreamLocker(pool);
  const stream = { aggregate_type: 'instance', aggregate_id: uniqueName('shared') };
  let inside = 0;
  let most = 0;
  const writer = (l: PgStreamLocker) =>
    l.run(stream, async () => {
      most = Math.max(most, ++inside);
      await sleep(30);
      inside--;
    });
  await Promise.all([writer(a), writer(b), writer(a), writer(b)]);
  expect(most).toBe(1);
});

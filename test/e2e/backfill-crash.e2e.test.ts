/**
 * The backfill survives a worker SIGKILL midway without starting over (issue 10, item 4), on the
 * real services: a few thousand legacy events; the long run is `npm run drill:backfill`.
 */
import { runBackfillDrill } from '../../bench/backfill-drill';

jest.setTimeout(300_000);

test('a backfill whose worker is SIGKILLed midway finishes from its checkpoint; S3 then equals the legacy table', async () => {
  const events = Number(process.env.BACKFILL_DRILL_EVENTS ?? 2000);
  const chunk = 250;
  const f = await runBackfillDrill({ events, chunk, killAt: 0.4, log: () => undefined });
  expect(f.processed_at_kill).toBeGreaterThan(0);
  expect(f.processed_at_kill).toBeLessThan(events);
  // Nothing started over: the chunk in flight at the kill is read again, no more.
  expect(f.processed_total).toBeLessThanOrEqual(events + chunk);
  // The killed attempt's chunk had copied part of its streams; its retry found them present.
  expect(f.copied).toBeGreaterThanOrEqual(events - chunk);
  expect(f.copied).toBeLessThanOrEqual(events);
  // Every legacy event is in S3 with its id, version and content.
  expect(f.verified_versions).toBe(events);
  expect(f.differences).toBe(0);
});

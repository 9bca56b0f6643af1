/**
 * The backfill survives a worker SIGKILL midway without starting over (issue 10, item 4), on the
 * real services: a few thousand legacy events; the long run is `npm run drill:backfill`.
 */
import { runBackfillDrill } from '../../bench/backfill-drill';

// Two worker processes bundling, the 15 s heartbeat timeout of the killed chunk, the copy and the
// verify: 1-3 minutes on the shared 2-core machine, where MinIO took ~130 conditional PUTs/s.
jest.setTimeout(420_000);

test('a backfill whose worker is SIGKILLed midway finishes from its checkpoint; S3 then equals the legacy table', async () => {
  const events = Number(process.env.BACKFILL_DRILL_EVENTS ?? 1000);
  const chunk = 100;
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
  // The drill removed its schemas and its S3 objects.
  expect(f.left_behind).toEqual({ s3_objects: 0, schemas: 0 });
});

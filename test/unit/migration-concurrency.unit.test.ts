/**
 * The migration's concurrency knob: a backfill or reverse-sync chunk copies at most `concurrency`
 * streams at once (the run's bound, else the worker's MIGRATION_CONCURRENCY), and a verify chunk
 * hands its bound to the reads. Pure logic of the activities over an in-memory MigrationStores.
 */
import { createMigrationActivities } from '../../src/activities/migration';
import type { MigrationStores, StorageModeRecord } from '../../src/ports/migration';
import type { StreamId } from '../../src/ports/event-store';

const streams: StreamId[] = Array.from({ length: 20 }, (_, i) => ({ aggregate_type: 'instance', aggregate_id: `i${i}` }));

function fakeStores() {
  const seen = { inFlight: 0, max: 0, readBothBound: [] as number[] };
  const stores: MigrationStores = {
    countLegacyEvents: async () => 20,
    countS3OnlyRows: async () => 0,
    legacyPage: async () => ({ streams, scanned: 20, checkpoint: 'c', hasMore: false }),
    s3OnlyPage: async () => ({ streams, scanned: 20, position: 20, hasMore: false }),
    streamsPage: async () => ({ streams, hasMore: false }),
    copyStream: async () => {
      seen.inFlight += 1;
      seen.max = Math.max(seen.max, seen.inFlight);
      await new Promise((r) => setTimeout(r, 2));
      seen.inFlight -= 1;
      return 1;
    },
    readBoth: async (s, concurrency) => {
      seen.readBothBound.push(concurrency);
      return s.map(() => ({ legacy: [], s3: [] }));
    },
  };
  return { stores, seen };
}

const modes = {} as StorageModeRecord;

test("a backfill chunk copies at most the run's concurrency of streams at once", async () => {
  const { stores, seen } = fakeStores();
  const acts = createMigrationActivities({ stores, modes, concurrency: 8 });
  const r = await acts.backfillChunk({ limit: 100, concurrency: 3 });
  expect(r).toMatchObject({ copied: 20, streams: 20 });
  expect(seen.max).toBe(3);
});

test("without a bound of its own a chunk uses the worker's, for copies and for verify reads", async () => {
  const { stores, seen } = fakeStores();
  const acts = createMigrationActivities({ stores, modes, concurrency: 5 });
  await acts.reverseSyncChunk({ after_position: 0, limit: 100 });
  expect(seen.max).toBe(5);
  await acts.verifyChunk({ limit: 100, target: 's3' });
  await acts.verifyChunk({ limit: 100, target: 's3', concurrency: 7 });
  expect(seen.readBothBound).toEqual([5, 7]);
});

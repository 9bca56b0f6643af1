/**
 * The migration's concurrency knob: a backfill or reverse-sync chunk copies at most `concurrency`
 * streams at once (the run's bound, else the worker's MIGRATION_CONCURRENCY), and a verify chunk
 * hands its bound to the reads; a chunk heartbeats while its streams are still in flight and,
 * once Temporal cancels it (its heartbeat timed out, so a retry runs elsewhere), starts no further
 * stream. Pure logic of the activities over an in-memory MigrationStores.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createMigrationActivities } from '../../src/activities/migration';
import type { MigrationStores, StorageModeRecord } from '../../src/ports/migration';
import { StoreCorruptedError, type StreamId } from '../../src/ports/event-store';

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

test('a chunk heartbeats on a timer while streams are in flight, and a cancelled chunk starts no further stream', async () => {
  const { stores } = fakeStores();
  let started = 0;
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  stores.copyStream = async () => {
    started += 1;
    // The first stream outlives a heartbeat interval (3 s): the timer keeps the chunk alive meanwhile.
    await new Promise((r) => setTimeout(r, started === 1 ? 3_500 : 5));
    if (started === 5) env.cancel();
    return 1;
  };
  const acts = createMigrationActivities({ stores, modes, concurrency: 1 });
  await expect(env.run(acts.backfillChunk, { checkpoint: 'c0', limit: 100 })).rejects.toThrow(/cancelled/);
  expect(started).toBe(5);
  expect(beats.length).toBeGreaterThanOrEqual(2); // at the start and at least one from the timer during the first stream
}, 15_000);

test('a failed stream stops the chunk from starting others, and the chunk fails once the streams in flight have settled', async () => {
  const { stores } = fakeStores();
  const started = new Set<string>();
  let inFlight = 0;
  stores.copyStream = async (_from, stream) => {
    started.add(stream.aggregate_id);
    inFlight += 1;
    await new Promise((r) => setTimeout(r, stream.aggregate_id === 'i0' ? 5 : 2_500));
    inFlight -= 1;
    if (stream.aggregate_id === 'i0') throw new Error('timeout exceeded when trying to connect');
    return 1;
  };
  const acts = createMigrationActivities({ stores, modes, concurrency: 4 });
  await expect(acts.backfillChunk({ limit: 100 })).rejects.toThrow('timeout exceeded when trying to connect');
  expect(started.size).toBe(4); // i0's three attempts (0.5 s + 1 s apart) end before the first wave: no other stream started
  expect(inFlight).toBe(0); // none still running when the chunk failed
});

test('a stream whose copy fails for an infrastructure reason is copied again in place; a store verdict is not retried', async () => {
  const { stores } = fakeStores();
  const calls = new Map<string, number>();
  stores.copyStream = async (_from, stream) => {
    const n = (calls.get(stream.aggregate_id) ?? 0) + 1;
    calls.set(stream.aggregate_id, n);
    if (stream.aggregate_id === 'i3' && n === 1) throw new Error('Connection terminated due to connection timeout');
    if (stream.aggregate_id === 'i7') throw new StoreCorruptedError('the event stores hold different events at instance/i7 v2');
    return 1;
  };
  const acts = createMigrationActivities({ stores, modes, concurrency: 2 });
  await expect(acts.backfillChunk({ limit: 100 })).rejects.toThrow(/different events/);
  expect(calls.get('i3')).toBe(2);
  expect(calls.get('i7')).toBe(1);
  calls.clear();
  stores.copyStream = async (_from, stream) => {
    const n = (calls.get(stream.aggregate_id) ?? 0) + 1;
    calls.set(stream.aggregate_id, n);
    if (n === 1 && stream.aggregate_id === 'i5') throw new Error('socket hang up');
    return 1;
  };
  expect(await acts.backfillChunk({ limit: 100 })).toMatchObject({ copied: 20 });
});

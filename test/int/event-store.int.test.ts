/**
 * S3EventStore against the real MinIO: optimistic concurrency, idempotent retries and the
 * expected-version semantics. Every test works in its own key prefix.
 */
import type { EventEnvelope } from '../../src/contracts/event-envelope';
import { EventIdReusedError, VersionConflictError, type ExpectedVersion } from '../../src/ports/event-store';
import { scaled, uniqueName } from '../support/env';
import { s3StoreFixture } from '../support/events';

const { client, storeAt, event, listAll } = s3StoreFixture('es-int');

beforeAll(async () => {
  await storeAt('setup').ensureBucket();
});
afterAll(() => client.destroy());

/** Writers racing on one stream: contention grows with their square, so the suite races fewer. */
const WRITERS = scaled(80, 200);

describe('optimistic concurrency', () => {
  it('50 concurrent appends at the same expected version: exactly one wins', async () => {
    const stream = { aggregate_type: 'Counter', aggregate_id: uniqueName('c') };
    const setup = storeAt('occ50');
    await setup.append(stream, 'no_stream', [event(stream)]);
    // one store per writer: no shared version hint, as with 50 worker processes
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => storeAt('occ50').append(stream, 1, [event(stream, { writer: i })])));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(49);
    for (const l of lost) {
      expect(l.reason).toBeInstanceOf(VersionConflictError);
      expect(l.reason.code).toBe('VERSION_CONFLICT');
      expect(l.reason.expected).toBe(1);
      expect(l.reason.actual).toBe(2);
    }
    const events = await setup.readStream(stream);
    expect(events.map((e) => e.envelope.aggregate_version)).toEqual([1, 2]);
    expect(events[1].envelope.event_id).toBe((won[0] as PromiseFulfilledResult<{ events: { event_id: string }[] }>).value.events[0].event_id);
    // the 49 losers' bodies and date entries are orphans: readAll returns only the 2 committed events
    const all = await setup.readAll({ limit: 1000 });
    expect(all.events.map((e) => e.envelope.event_id).sort()).toEqual(events.map((e) => e.envelope.event_id).sort());
  });

  it(`${WRITERS} concurrent read-append-retry writers yield versions 1..${WRITERS} without gap or duplicate`, async () => {
    const stream = { aggregate_type: 'Counter', aggregate_id: uniqueName('hot') };
    const sub = 'occ-many';
    let conflicts = 0;
    // 4 store instances (as 4 worker processes: separate hints and queues), a quarter of the writers each
    const processes = Array.from({ length: 4 }, () => storeAt(sub));
    const writer = async (i: number) => {
      const store = processes[i % processes.length];
      const ev = event(stream, { writer: i });
      let v = await store.currentVersion(stream);
      for (let attempt = 0; ; attempt++) {
        try {
          return (await store.append(stream, v, [ev])).events[0];
        } catch (e) {
          if (!(e instanceof VersionConflictError)) throw e;
          conflicts++;
          v = attempt % 4 === 3 ? await store.currentVersion(stream) : e.actual;
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 2 ** attempt)));
        }
      }
    };
    const placed = await Promise.all(Array.from({ length: WRITERS }, (_, i) => writer(i)));
    expect(placed.map((p) => p.version).sort((a, b) => a - b)).toEqual(Array.from({ length: WRITERS }, (_, i) => i + 1));
    expect(conflicts).toBeGreaterThan(0);

    const store = storeAt(sub);
    const events = await store.readStream(stream);
    expect(events.map((e) => e.envelope.aggregate_version)).toEqual(Array.from({ length: WRITERS }, (_, i) => i + 1));
    expect(new Set(events.map((e) => e.envelope.event_id)).size).toBe(WRITERS);
    expect(new Set(events.map((e) => (e.envelope.payload as { writer: number }).writer)).size).toBe(WRITERS);
    for (const p of placed) expect(events[p.version - 1].envelope.event_id).toBe(p.event_id);

    const indexKeys = await listAll(store.keys.streamIndexPrefix(stream));
    expect(indexKeys.map((k) => store.keys.versionOfIndexKey(k))).toEqual(Array.from({ length: WRITERS }, (_, i) => i + 1));
    expect(await store.currentVersion(stream)).toBe(WRITERS);
    // every committed version has its body: the references returned by append resolve
    const bodies = await Promise.all(placed.map((p) => store.readEvent(p.s3)));
    expect(bodies.map((b) => b.envelope.aggregate_version).sort((a, b) => a - b)).toEqual(Array.from({ length: WRITERS }, (_, i) => i + 1));
    expect(await store.aggregateAt(stream, 50)).toHaveLength(50);
  }, 400_000);
});

describe('idempotent retries', () => {
  const store = storeAt('idem');

  it('re-appending after a timeout where the write happened is a no-op returning the stored positions', async () => {
    const stream = { aggregate_type: 'Order', aggregate_id: uniqueName('o') };
    const batch = [event(stream, { n: 1 }), event(stream, { n: 2 })];
    const first = await store.append(stream, 0, batch);
    expect(first.events.map((e) => e.version)).toEqual([1, 2]);
    expect(first.nextExpectedVersion).toBe(2);
    // the caller never saw `first` (timeout) and retries with the same input, from another process
    const again = await storeAt('idem').append(stream, 0, batch);
    expect(again).toEqual(first);
    // ... and after other events were appended behind it
    await store.append(stream, 2, [event(stream, { n: 3 })]);
    expect(await storeAt('idem').append(stream, 0, batch)).toEqual(first);
    // an 'any' retry must not append a duplicate either
    expect((await storeAt('idem').append(stream, 'any', [batch[1]])).events).toEqual([first.events[1]]);
    const events = await store.readStream(stream);
    expect(events.map((e) => (e.envelope.payload as { n: number }).n)).toEqual([1, 2, 3]);
    expect(await store.currentVersion(stream)).toBe(3);
  });

  it('a retry after the commit happened but before the response arrived (lower-level steps) is a no-op', async () => {
    const stream = { aggregate_type: 'Order', aggregate_id: uniqueName('o') };
    const ev = { ...event(stream, { n: 1 }), aggregate_version: 1 };
    await store.prepareEvent(ev);
    expect(await store.commitEvent(ev)).toEqual({ kind: 'created' });
    const r = await storeAt('idem').append(stream, 'no_stream', [ev]);
    expect(r.events.map((e) => e.version)).toEqual([1]);
    expect(await store.readStream(stream)).toHaveLength(1);
  });

  it('the same event_id with different content is refused', async () => {
    const stream = { aggregate_type: 'Order', aggregate_id: uniqueName('o') };
    const ev = event(stream, { amount: 10 });
    await store.append(stream, 0, [ev]);
    const forged = { ...ev, payload: { amount: 1_000_000 } };
    await expect(store.append(stream, 0, [forged])).rejects.toBeInstanceOf(EventIdReusedError);
    await expect(storeAt('idem').append(stream, 1, [forged])).rejects.toMatchObject({ code: 'EVENT_ID_REUSED', storedVersion: 1 });
    await expect(storeAt('idem').append(stream, 'any', [forged])).rejects.toMatchObject({ code: 'EVENT_ID_REUSED' });
    const events = await store.readStream(stream);
    expect(events).toHaveLength(1);
    expect(events[0].envelope.payload).toEqual({ amount: 10 });
    expect((await store.readEvent(events[0].s3)).envelope.payload).toEqual({ amount: 10 });
  });

  it('assigns versions itself and does not mutate the input', async () => {
    const stream = { aggregate_type: 'Order', aggregate_id: uniqueName('o') };
    const ev = { ...event(stream), aggregate_version: 999 };
    const r = await store.append(stream, 0, [ev]);
    expect(r.events[0].version).toBe(1);
    expect(ev.aggregate_version).toBe(999);
    expect((await store.readStream(stream))[0].envelope.aggregate_version).toBe(1);
  });

  it('refuses events of another stream and duplicate ids in one batch', async () => {
    const stream = { aggregate_type: 'Order', aggregate_id: uniqueName('o') };
    const other = event({ aggregate_type: 'Order', aggregate_id: 'other' });
    await expect(store.append(stream, 0, [other])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    const ev = event(stream);
    await expect(store.append(stream, 0, [ev, ev])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    await expect(store.append(stream, 0, [{ ...ev, occurred_at: 'not a date' }])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    await expect(store.append({ aggregate_type: 'Order', aggregate_id: '' }, 0, [])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    expect(await store.currentVersion(stream)).toBe(0);
  });
});

describe('expected version semantics', () => {
  const store = storeAt('expected');
  const fresh = () => ({ aggregate_type: 'Doc', aggregate_id: uniqueName('d') });
  const conflict = (p: Promise<unknown>, expected: ExpectedVersion, actual: number) => expect(p).rejects.toMatchObject({ code: 'VERSION_CONFLICT', expected, actual });

  it('no_stream: appends to an empty stream, conflicts on an existing one', async () => {
    const s = fresh();
    expect((await store.append(s, 'no_stream', [event(s)])).nextExpectedVersion).toBe(1);
    await conflict(store.append(s, 'no_stream', [event(s)]), 'no_stream', 1);
    await conflict(storeAt('expected').append(s, 'no_stream', [event(s)]), 'no_stream', 1);
  });

  it('stream_exists: conflicts on an empty stream, appends after the end of an existing one', async () => {
    const s = fresh();
    await conflict(store.append(s, 'stream_exists', [event(s)]), 'stream_exists', 0);
    await store.append(s, 0, [event(s)]);
    await storeAt('expected').append(s, 'any', [event(s)]); // moves the stream behind this store's hint
    expect((await store.append(s, 'stream_exists', [event(s)])).events[0].version).toBe(3);
  });

  it('any: always appends, on empty and existing streams, also with a stale hint', async () => {
    const s = fresh();
    expect((await store.append(s, 'any', [event(s)])).events[0].version).toBe(1);
    await storeAt('expected').append(s, 1, [event(s), event(s)]);
    expect((await store.append(s, 'any', [event(s)])).events[0].version).toBe(4);
    const racers = await Promise.all(Array.from({ length: 10 }, () => storeAt('expected').append(s, 'any', [event(s)])));
    expect(racers.map((r) => r.events[0].version).sort((a, b) => a - b)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  });

  it('a number: must match the current version exactly (lower or higher conflicts, no gap is opened)', async () => {
    const s = fresh();
    await store.append(s, 0, [event(s), event(s)]);
    await conflict(store.append(s, 1, [event(s)]), 1, 2);
    await conflict(store.append(s, 0, [event(s)]), 0, 2);
    await conflict(storeAt('expected').append(s, 5, [event(s)]), 5, 2);
    await conflict(store.append(s, 3, [event(s)]), 3, 2);
    expect((await store.append(s, 2, [event(s)])).nextExpectedVersion).toBe(3);
    expect((await store.readStream(s)).map((e) => e.envelope.aggregate_version)).toEqual([1, 2, 3]);
    await expect(store.append(s, -1, [event(s)])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
  });

  it('an empty append checks the expectation and returns the current version', async () => {
    const s = fresh();
    expect(await store.append(s, 'no_stream', [])).toEqual({ events: [], nextExpectedVersion: 0 });
    await conflict(store.append(s, 'stream_exists', []), 'stream_exists', 0);
  });

  it('readStream ranges and aggregateAt (time travel)', async () => {
    const s = fresh();
    await store.append(
      s,
      0,
      [1, 2, 3, 4, 5].map((n) => event(s, { n })),
    );
    const n = (evs: { envelope: EventEnvelope }[]) => evs.map((e) => (e.envelope.payload as { n: number }).n);
    expect(n(await store.readStream(s, { fromVersion: 2, toVersion: 4 }))).toEqual([2, 3, 4]);
    expect(n(await store.readStream(s, { fromVersion: 4 }))).toEqual([4, 5]);
    expect(n(await store.readStream(s, { fromVersion: 9 }))).toEqual([]);
    expect(n(await store.aggregateAt(s, 3))).toEqual([1, 2, 3]);
    expect(await store.aggregateAt(s, 0)).toEqual([]);
    await expect(store.aggregateAt(s, 6)).rejects.toMatchObject({ code: 'EVENT_NOT_FOUND' });
  });
});

/**
 * S3EventStore against the real MinIO: replay in time order (readAll), crash between the writes
 * of an append, and hostile ids. Every test works in its own key prefix.
 */
import type { EventEnvelope } from '../../src/contracts/event-envelope';
import { testConfig, uniqueName } from '../support/env';
import { s3StoreFixture } from '../support/events';

const { client, runPrefix, storeAt, event, listAll } = s3StoreFixture('es-dur');

beforeAll(async () => {
  await storeAt('setup').ensureBucket();
});
afterAll(() => client.destroy());

describe('readAll', () => {
  it('returns events in time order across days, months and a year boundary, and resumes from checkpoints', async () => {
    const store = storeAt('readall');
    const a = { aggregate_type: 'Account', aggregate_id: uniqueName('a') };
    const b = { aggregate_type: 'Account', aggregate_id: uniqueName('b') };
    const times = {
      t1: '2025-11-30T23:59:59.999Z',
      t2: '2025-12-31T23:59:59.800Z',
      t3: '2025-12-31T23:59:59.900Z',
      t4: '2026-01-01T00:00:00.100Z',
      t5: '2026-01-01T00:00:00.200Z',
      t6: '2026-01-31T23:59:59.999Z',
      t7: '2026-02-01T00:00:00.000Z',
      t8: '2026-02-01T00:00:00.000Z',
    };
    // appended out of time order, over two streams
    await store.append(a, 'no_stream', [event(a, 't3', times.t3), event(a, 't7', times.t7)]);
    await store.append(b, 'no_stream', [event(b, 't5', times.t5)]);
    await store.append(a, 2, [event(a, 't1', times.t1), event(a, 't4', times.t4)]);
    await store.append(b, 1, [event(b, 't2', times.t2), event(b, 't6', times.t6), event(b, 't8', times.t8)]);
    // a losing writer leaves an orphan body and date entry: it must never be returned
    await expect(store.append(a, 0, [event(a, 'loser', '2025-12-31T23:59:59.850Z')])).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });

    const seen: EventEnvelope[] = [];
    const checkpoints: string[] = [];
    let from: string | undefined;
    for (let page = 0; page < 20; page++) {
      const r = await store.readAll({ from, limit: 3 });
      seen.push(...r.events.map((e) => e.envelope));
      if (r.checkpoint) checkpoints.push(r.checkpoint);
      from = r.checkpoint;
      if (!r.hasMore) break;
    }
    expect(seen.map((e) => e.payload)).not.toContain('loser');
    const byTime = [...seen].sort((x, y) => Date.parse(x.occurred_at) - Date.parse(y.occurred_at) || x.event_id.localeCompare(y.event_id));
    expect(seen).toEqual(byTime);
    expect(seen.map((e) => e.payload).slice(0, 6)).toEqual(['t1', 't2', 't3', 't4', 't5', 't6']);
    expect(new Set(seen.map((e) => e.payload).slice(6))).toEqual(new Set(['t7', 't8']));
    expect(seen).toHaveLength(8);
    // versions come from the stream index (the commit), not from the date entry
    expect(seen.find((e) => e.payload === 't4')).toMatchObject({ aggregate_id: a.aggregate_id, aggregate_version: 4 });

    // resuming from a middle checkpoint continues exactly after it
    const mid = await store.readAll({ from: checkpoints[0], limit: 100 });
    expect(mid.events.map((e) => e.envelope.payload)).toEqual(seen.slice(3).map((e) => e.payload));
    // at the end: nothing new, checkpoint unchanged; new events then appear after it
    const end = await store.readAll({ from, limit: 10 });
    expect(end).toEqual({ events: [], checkpoint: from, hasMore: false });
    await store.append(b, 'any', [event(b, 't9', '2026-06-01T00:00:00.000Z')]);
    const more = await store.readAll({ from, limit: 10 });
    expect(more.events.map((e) => e.envelope.payload)).toEqual(['t9']);
    expect((await store.readEvent(more.events[0].s3)).envelope.payload).toBe('t9');
    await expect(store.readAll({ from: '../../etc/passwd' })).rejects.toMatchObject({ code: 'INVALID_EVENT' });
  });

  it('settleMs holds back entries that are too recent for a tailing reader', async () => {
    const store = storeAt('settle');
    const s = { aggregate_type: 'Account', aggregate_id: uniqueName('s') };
    await store.append(s, 0, [event(s, 'old', '2026-01-01T00:00:00.000Z'), event(s, 'now', new Date().toISOString())]);
    const r = await store.readAll({ settleMs: 60_000 });
    expect(r.events.map((e) => e.envelope.payload)).toEqual(['old']);
    expect(r.hasMore).toBe(true);
    expect((await store.readAll({ from: r.checkpoint })).events.map((e) => e.envelope.payload)).toEqual(['now']);
  });
});

describe('crash between the writes of an append', () => {
  it('a crash after the body and date entry but before the commit leaves nothing visible; a retry completes it', async () => {
    const store = storeAt('crash');
    const s = { aggregate_type: 'Order', aggregate_id: uniqueName('o') };
    await store.append(s, 0, [event(s, 'first')]);
    const crashed = { ...event(s, 'crashed', '2026-03-01T12:00:01.000Z'), aggregate_version: 2 };
    // the writer dies after step 1 (body + date index entry) and never commits
    expect(await store.prepareEvent(crashed)).toMatchObject({ kind: 'ready' });
    const ref = store.refOf(crashed);
    expect(await listAll(ref.key)).toEqual([ref.key]); // the orphan body really is in S3

    const reader = storeAt('crash'); // a fresh reader process
    expect(await reader.currentVersion(s)).toBe(1);
    expect((await reader.readStream(s)).map((e) => e.envelope.payload)).toEqual(['first']);
    expect((await reader.readAll()).events.map((e) => e.envelope.payload)).toEqual(['first']);
    await expect(reader.readEvent(ref)).rejects.toMatchObject({ code: 'EVENT_NOT_FOUND' });
    await expect(reader.aggregateAt(s, 2)).rejects.toMatchObject({ code: 'EVENT_NOT_FOUND' });

    // another writer takes version 2 meanwhile: the orphan still never shows up
    await reader.append(s, 1, [event(s, 'winner', '2026-03-01T12:00:02.000Z')]);
    expect((await reader.readAll()).events.map((e) => e.envelope.payload)).toEqual(['first', 'winner']);
    await expect(reader.readEvent(ref)).rejects.toMatchObject({ code: 'EVENT_NOT_FOUND' });

    // the crashed command is retried (activity retry): at its old version it conflicts ...
    const retryStore = storeAt('crash');
    await expect(retryStore.append(s, 1, [crashed])).rejects.toMatchObject({ code: 'VERSION_CONFLICT', actual: 2 });
    // ... after re-deciding it lands at version 3, body and date entry rewritten for version 3
    const r = await retryStore.append(s, 2, [crashed]);
    expect(r.events[0]).toMatchObject({ version: 3, s3: ref });
    expect((await reader.readEvent(ref)).envelope).toMatchObject({ aggregate_version: 3, payload: 'crashed' });
    expect((await reader.readAll()).events.map((e) => [e.envelope.payload, e.envelope.aggregate_version])).toEqual([
      ['first', 1],
      ['crashed', 3],
      ['winner', 2],
    ]);
  });

  it('a retry at the same version after a crash before the commit commits the prepared event', async () => {
    const store = storeAt('crash2');
    const s = { aggregate_type: 'Order', aggregate_id: uniqueName('o') };
    const ev = { ...event(s, 'x'), aggregate_version: 1 };
    await store.prepareEvent(ev);
    expect(await store.currentVersion(s)).toBe(0);
    const r = await storeAt('crash2').append(s, 'no_stream', [ev]);
    expect(r.events[0].version).toBe(1);
    expect((await store.readAll()).events.map((e) => e.envelope.event_id)).toEqual([ev.event_id]);
  });

  it('every committed version has its body and its date entry (the commit is the last write)', async () => {
    const store = storeAt('complete');
    const s = { aggregate_type: 'Order', aggregate_id: uniqueName('o') };
    await Promise.allSettled(Array.from({ length: 20 }, (_, i) => storeAt('complete').append(s, 'any', [event(s, i)])));
    const events = await store.readStream(s);
    expect(events).toHaveLength(20);
    for (const e of events) {
      expect((await store.readEvent(e.s3)).envelope).toEqual(e.envelope);
      expect(await listAll(store.keys.dateIndexKey(e.envelope.event_id, e.envelope.occurred_at))).toHaveLength(1);
    }
  });
});

describe('hostile ids', () => {
  const HOSTILE = [
    '../escape',
    '../../../../../../etc/passwd',
    '/absolute',
    'a/b/c',
    '..',
    '.',
    '%2e%2e%2f',
    '~2F~2E',
    'nul\u0000byte',
    'line\nbreak\r\t',
    '\u202Eright-to-left',
    'é',
    'e\u0301',
    '日本語🙂',
    '\\windows\\..\\path',
    '?query=1&x#frag',
    ' ',
    'x'.repeat(1024),
    '🙂'.repeat(256),
    `${'/..'.repeat(300)}`,
  ];

  it('never produce a key outside their prefix, and each stream stays separate', async () => {
    const sub = 'hostile';
    const store = storeAt(sub);
    const root = `${runPrefix}/${sub}/`;
    const streams = HOSTILE.flatMap((id) => [
      { aggregate_type: 'Instance', aggregate_id: id },
      { aggregate_type: id, aggregate_id: 'plain' },
    ]);
    for (const s of streams) {
      await store.append(s, 'no_stream', [event(s, { id: s.aggregate_id }), event(s, { id: s.aggregate_id })]);
    }
    const keys = await listAll(root);
    // 2 events x (body + stream index + date entry) per stream, every one under the store prefix
    expect(keys).toHaveLength(streams.length * 2 * 3);
    for (const k of keys) {
      expect(k.startsWith(root)).toBe(true);
      expect(Buffer.byteLength(k)).toBeLessThan(1024);
      expect(k.slice(root.length)).toMatch(/^(events|indexes\/by-aggregate|indexes\/by-date)\/[A-Za-z0-9_~./-]+\.json$/);
      expect(k.split('/')).not.toContain('..');
    }
    // nothing landed where an unencoded id would have put it
    for (const p of ['etc/', 'escape', 'absolute', `${runPrefix}/${sub}/indexes/by-aggregate/Instance/escape`, `${runPrefix}/etc`, `${runPrefix}/${sub}/etc`]) {
      expect(await listAll(p)).toEqual([]);
    }
    for (const s of streams) {
      const own = await listAll(store.keys.streamIndexPrefix(s));
      expect(own.map((k) => store.keys.versionOfIndexKey(k))).toEqual([1, 2]);
      const events = await store.readStream(s);
      expect(events).toHaveLength(2);
      for (const e of events) {
        expect(e.envelope.aggregate_id).toBe(s.aggregate_id);
        expect(e.envelope.aggregate_type).toBe(s.aggregate_type);
        expect(e.s3.key.startsWith(root)).toBe(true);
        expect((await store.readEvent(e.s3)).envelope).toEqual(e.envelope);
      }
    }
    const all = await store.readAll({ limit: 1000 });
    expect(all.events).toHaveLength(streams.length * 2);
  });

  it('refuses unusable input with a typed error', async () => {
    const store = storeAt('hostile-bad');
    await expect(store.append({ aggregate_type: 'Instance', aggregate_id: '' }, 0, [])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    await expect(store.readStream({ aggregate_type: '', aggregate_id: 'x' })).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    const s = { aggregate_type: 'Instance', aggregate_id: 'x' };
    await expect(store.append(s, 0, [{ ...event(s), event_id: '' }])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    await expect(store.readEvent({ bucket: testConfig.S3_BUCKET, key: '../../etc/passwd', endpoint: '', event_id: 'x' })).rejects.toMatchObject({ code: 'EVENT_NOT_FOUND' });
    expect(() => storeAt('../escape')).toThrow();
  });
});

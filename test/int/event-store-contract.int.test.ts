/**
 * One contract, every event store: S3 (the source of truth), the legacy PostgreSQL table, the
 * dual-write store of the migration (S3 first, then a copy in PostgreSQL) and the in-memory store
 * the workflow and activity tests run on (so that fake cannot drift from the real ones). Each
 * store runs the same cases; "two processes" are two store instances that share nothing in memory.
 * What only the dual-write store does (both stores hold the event, a failing copy) is tested after.
 */
import { Pool } from 'pg';
import { eventIdFor, EventEnvelope } from '../../src/contracts/event-envelope';
import { CommandAppendedError, CommandReusedError, EventIdReusedError, EventStore, ExpectedVersion, StreamId, VersionConflictError } from '../../src/ports/event-store';
import { ModeEventStore } from '../../src/adapters/mode-event-store';
import { PgStreamLocker } from '../../src/adapters/postgres/stream-locks';
import { LegacyPgEventStore } from '../../src/adapters/postgres/legacy-event-store';
import { dropSchema, migrate } from '../../src/adapters/postgres/migrations';
import { createOwnerPool } from '../../src/adapters/postgres/postgres';
import { eventually, testConfig, uniqueName } from '../support/env';
import { s3StoreFixture } from '../support/events';
import { InMemoryEventStore } from '../support/in-memory-activity-ports';

const s3 = s3StoreFixture('contract');
const schema = uniqueName('contract');
const dualSchema = uniqueName('contract_dual');
let pool: Pool;
let lockPool: Pool;

beforeAll(async () => {
  pool = createOwnerPool(testConfig, { max: 8 });
  lockPool = createOwnerPool(testConfig, { max: 4 });
  await Promise.all([migrate(pool, schema).then(() => migrate(pool, dualSchema)), s3.storeAt('setup').ensureBucket()]);
});
afterAll(async () => {
  await dropSchema(pool, schema);
  await dropSchema(pool, dualSchema);
  await pool.end();
  await lockPool.end();
  s3.client.destroy();
});

const memory = new InMemoryEventStore();
/** The dual_write mode's store as the composition builds it (S3 decides, the table mirrors, stream locks in PostgreSQL). */
const dualWriteOf = (primary: EventStore, legacy: EventStore) =>
  new ModeEventStore({ mode: 'dual_write', primary, secondary: legacy, mirror: true, secondaryMayLead: () => false, locks: new PgStreamLocker(lockPool) });
const dualWrite = () => dualWriteOf(s3.storeAt('dual'), new LegacyPgEventStore(pool, dualSchema));

/** A fresh store instance each call: as a separate worker process would see the store. */
const stores: Array<[string, () => EventStore]> = [
  ['S3', () => s3.storeAt('stores')],
  ['legacy PostgreSQL', () => new LegacyPgEventStore(pool, schema)],
  ['dual-write', dualWrite],
  ['in-memory (test fake)', () => memory],
];

function event(stream: StreamId, commandId: string, payload: unknown = {}, occurredAt = new Date().toISOString()): EventEnvelope {
  return {
    event_id: eventIdFor(commandId, 0),
    event_type: 'InstanceUpdated',
    ...stream,
    aggregate_version: 0,
    occurred_at: occurredAt,
    actor: 'test',
    command_id: commandId,
    schema_version: 1,
    payload,
    metadata: { storage_mode: 's3_only' },
  };
}

/** A new event of its own command. */
const fresh = (stream: StreamId, payload: unknown = {}, occurredAt?: string) => event(stream, uniqueName('c'), payload, occurredAt);
const mark = (commandId: string, hash = 'h1') => ({ command: { command_id: commandId, request_hash: hash } });
const payloads = (events: { envelope: EventEnvelope }[]) => events.map((e) => e.envelope.payload);
const conflict = (p: Promise<unknown>, expected: ExpectedVersion, actual: number) => expect(p).rejects.toMatchObject({ constructor: VersionConflictError, code: 'VERSION_CONFLICT', expected, actual });

describe.each(stores)('%s event store', (_name, open) => {
  const stream = (): StreamId => ({ aggregate_type: 'instance', aggregate_id: uniqueName('db:i') });

  describe('expected version', () => {
    test('no_stream appends to an empty stream only', async () => {
      const s = stream();
      expect((await open().append(s, 'no_stream', [fresh(s)])).nextExpectedVersion).toBe(1);
      await conflict(open().append(s, 'no_stream', [fresh(s)]), 'no_stream', 1);
      expect(await open().currentVersion(s)).toBe(1);
    });

    test('stream_exists conflicts on an empty stream and appends after the end of an existing one', async () => {
      const s = stream();
      await conflict(open().append(s, 'stream_exists', [fresh(s)]), 'stream_exists', 0);
      const store = open();
      await store.append(s, 0, [fresh(s)]);
      await open().append(s, 'any', [fresh(s)]); // moves the stream on behind this instance's back
      expect((await store.append(s, 'stream_exists', [fresh(s)])).events.map((e) => e.version)).toEqual([3]);
    });

    test('any appends at the end, also with concurrent writers, without gaps or duplicates', async () => {
      const s = stream();
      expect((await open().append(s, 'any', [fresh(s)])).events[0].version).toBe(1);
      await open().append(s, 1, [fresh(s), fresh(s)]);
      expect((await open().append(s, 'any', [fresh(s)])).events[0].version).toBe(4);
      const racers = await Promise.all(Array.from({ length: 5 }, () => open().append(s, 'any', [fresh(s)])));
      expect(racers.map((r) => r.events[0].version).sort((a, b) => a - b)).toEqual([5, 6, 7, 8, 9]);
      expect((await open().readStream(s)).map((e) => e.envelope.aggregate_version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    test('a number must be the current version exactly: lower or higher conflicts and opens no gap', async () => {
      const s = stream();
      await open().append(s, 0, [fresh(s, { n: 1 }), fresh(s, { n: 2 })]);
      await conflict(open().append(s, 1, [fresh(s)]), 1, 2);
      await conflict(open().append(s, 0, [fresh(s)]), 0, 2);
      await conflict(open().append(s, 5, [fresh(s)]), 5, 2);
      await conflict(open().append(s, 3, [fresh(s)]), 3, 2);
      expect((await open().append(s, 2, [fresh(s, { n: 3 })])).nextExpectedVersion).toBe(3);
      expect(payloads(await open().readStream(s))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      await expect(open().append(s, -1, [fresh(s)])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    });

    test('of concurrent appends at one expected version exactly one wins', async () => {
      const s = stream();
      await open().append(s, 'no_stream', [fresh(s)]);
      const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => open().append(s, 1, [fresh(s, { writer: i })])));
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      for (const l of lost) expect(l.reason).toMatchObject({ code: 'VERSION_CONFLICT', expected: 1, actual: 2 });
      expect((await open().readStream(s)).map((e) => e.envelope.aggregate_version)).toEqual([1, 2]);
    });

    test('an empty append checks the expectation and returns the current version', async () => {
      const s = stream();
      expect(await open().append(s, 'no_stream', [])).toEqual({ events: [], nextExpectedVersion: 0 });
      await conflict(open().append(s, 'stream_exists', []), 'stream_exists', 0);
    });

    test('versions are assigned by the store, whatever the draft says, and the input is not changed', async () => {
      const s = stream();
      const draft = { ...fresh(s), aggregate_version: 999 };
      expect((await open().append(s, 0, [draft])).events[0].version).toBe(1);
      expect(draft.aggregate_version).toBe(999);
      expect((await open().readStream(s))[0].envelope.aggregate_version).toBe(1);
    });

    test('events of another stream, duplicate ids in one append and bad dates are refused, nothing stored', async () => {
      const s = stream();
      const e = fresh(s);
      await expect(open().append(s, 0, [fresh(stream())])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
      await expect(open().append(s, 0, [e, e])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
      await expect(open().append(s, 0, [{ ...fresh(s), occurred_at: 'not a date' }])).rejects.toMatchObject({ code: 'INVALID_EVENT' });
      expect(await open().currentVersion(s)).toBe(0);
    });
  });

  describe('idempotent append', () => {
    test('re-appending stored events is a no-op that answers their stored versions, also after later appends and as any', async () => {
      const s = stream();
      const batch = [fresh(s, { n: 1 }), fresh(s, { n: 2 })];
      const first = await open().append(s, 0, batch);
      expect(first.events.map((e) => e.version)).toEqual([1, 2]);
      expect(first.nextExpectedVersion).toBe(2);
      const again = await open().append(s, 0, batch);
      expect([again.events.map((e) => [e.event_id, e.version]), again.nextExpectedVersion]).toEqual([first.events.map((e) => [e.event_id, e.version]), 2]);
      await open().append(s, 2, [fresh(s, { n: 3 })]);
      expect((await open().append(s, 0, batch)).events.map((e) => e.version)).toEqual([1, 2]);
      expect((await open().append(s, 'any', [batch[1]])).events.map((e) => e.version)).toEqual([2]);
      expect(payloads(await open().readStream(s))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    });

    test('EVENT_ID_REUSED: a stored event id with other content is refused at any expected version, and the stored event stays', async () => {
      const s = stream();
      const original = fresh(s, { amount: 10 });
      await open().append(s, 0, [original]);
      const forged = { ...original, payload: { amount: 1_000_000 } };
      for (const expected of [0, 1, 'any'] as ExpectedVersion[]) {
        await expect(open().append(s, expected, [forged])).rejects.toMatchObject({ constructor: EventIdReusedError, code: 'EVENT_ID_REUSED', eventId: original.event_id });
      }
      expect(payloads(await open().readStream(s))).toEqual([{ amount: 10 }]);
    });
  });

  describe('reads', () => {
    test('readStream returns the whole envelope in version order, within an inclusive range', async () => {
      const s = stream();
      const drafts = [1, 2, 3, 4, 5].map((n) => fresh(s, { n }));
      await open().append(s, 0, drafts.slice(0, 2));
      await open().append(s, 2, drafts.slice(2));
      const all = await open().readStream(s);
      expect(all.map((e) => e.envelope)).toEqual(drafts.map((d, i) => ({ ...d, aggregate_version: i + 1 })));
      expect(payloads(await open().readStream(s, { fromVersion: 2, toVersion: 4 }))).toEqual([{ n: 2 }, { n: 3 }, { n: 4 }]);
      expect(payloads(await open().readStream(s, { fromVersion: 4 }))).toEqual([{ n: 4 }, { n: 5 }]);
      expect(await open().readStream(s, { fromVersion: 9 })).toEqual([]);
      expect(await open().readStream(stream())).toEqual([]);
      expect(await open().currentVersion(s)).toBe(5);
    });

    test('aggregateAt gives the stream as it was at a version: events 1..v, none at 0', async () => {
      const s = stream();
      await open().append(
        s,
        0,
        [1, 2, 3, 4].map((n) => fresh(s, { n })),
      );
      expect(payloads(await open().aggregateAt(s, 3))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(payloads(await open().aggregateAt(s, 4))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
      expect(await open().aggregateAt(s, 0)).toEqual([]);
    });

    test('readAll pages through every event once, streams in version order, and resumes strictly after its checkpoint', async () => {
      const store = open();
      const [a, b] = [stream(), stream()];
      const mine = new Set([a.aggregate_id, b.aggregate_id]);
      // Start at the end of what the store held before (paging through it 2 by 2 would take long).
      let { checkpoint } = await store.readAll({ limit: 100_000 });
      // Occurred after everything read so far, and in the past when read (the S3 store orders
      // readAll by occurred_at and holds back events from the future).
      const base = Date.now() + 1;
      const at = (i: number) => new Date(base + i).toISOString();
      await store.append(a, 0, [fresh(a, { n: 1 }, at(1)), fresh(a, { n: 2 }, at(2))]);
      await store.append(b, 0, [fresh(b, { n: 3 }, at(3))]);
      await store.append(a, 2, [fresh(a, { n: 4 }, at(4))]);
      await new Promise((r) => setTimeout(r, 20));
      // Paged 2 by 2 until all four are seen: the legacy store holds back events younger than the
      // oldest transaction still open anywhere in PostgreSQL, so what it shows may lag.
      const seen: EventEnvelope[] = [];
      const deadline = Date.now() + 30_000;
      for (let pages = 0; ; pages++) {
        const page = await store.readAll({ from: checkpoint, limit: 2 });
        expect(page.events.length).toBeLessThanOrEqual(2);
        seen.push(...page.events.map((e) => e.envelope));
        checkpoint = page.checkpoint;
        if (!page.hasMore && seen.filter((e) => mine.has(e.aggregate_id)).length >= 4) break;
        if (!page.hasMore) {
          expect(Date.now()).toBeLessThan(deadline);
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(pages).toBeLessThan(10_000);
      }
      const ours = seen.filter((e) => mine.has(e.aggregate_id));
      expect(ours.map((e) => e.payload)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
      expect(new Set(seen.map((e) => e.event_id)).size).toBe(seen.length);
      expect(seen.length).toBeLessThan(20); // only what came after the first checkpoint

      // At the end: nothing new keeps the checkpoint; the next event is read once, from there.
      expect(await store.readAll({ from: checkpoint })).toMatchObject({ events: [], checkpoint, hasMore: false });
      await store.append(b, 1, [fresh(b, { n: 5 }, at(5))]);
      await new Promise((r) => setTimeout(r, 20));
      const next = await eventually(
        () => store.readAll({ from: checkpoint }),
        (r) => r.events.length > 0,
      );
      expect(next.events.map((e) => e.envelope.payload)).toEqual([{ n: 5 }]);
      expect(next.checkpoint).not.toEqual(checkpoint);
      expect((await store.readAll({ from: next.checkpoint })).events).toEqual([]);
    });
  });

  describe('commands', () => {
    test('a command retried after 250 later appends finds its original version and event, and stores nothing', async () => {
      const store = open();
      const s = stream();
      await store.append(s, 'no_stream', [event(s, uniqueName('create'))], mark(uniqueName('create')));
      const a = uniqueName('cmd-a');
      const first = await store.append(s, 1, [event(s, a, { n: 'a' }, '2026-03-01T23:59:59.000Z')], mark(a));
      expect(first.events.map((e) => e.version)).toEqual([2]);
      for (let i = 0; i < 250; i++) {
        const c = uniqueName(`u${i}`);
        await store.append(s, i + 2, [event(s, c, { n: i })], mark(c));
      }
      expect(await store.currentVersion(s)).toBe(252);

      // The retry decides again at the stream's end, on another day: the store answers with the original.
      const retry = open().append(s, 252, [event(s, a, { n: 'a' }, '2026-03-02T00:00:05.000Z')], mark(a));
      await expect(retry).rejects.toBeInstanceOf(CommandAppendedError);
      const err = (await retry.catch((e) => e)) as CommandAppendedError;
      expect(err.record.events.map((e) => [e.envelope.event_id, e.envelope.aggregate_version, e.envelope.occurred_at])).toEqual([[eventIdFor(a, 0), 2, '2026-03-01T23:59:59.000Z']]);
      expect(await store.currentVersion(s)).toBe(252);

      const found = await open().findCommand(a);
      expect(found?.stream).toEqual(s);
      expect(found?.request_hash).toBe('h1');
      expect(found?.events.map((e) => e.envelope.aggregate_version)).toEqual([2]);
    });

    test('the same command id with another request is refused, also on another stream, and nothing is stored', async () => {
      const store = open();
      const s = stream();
      const other = stream();
      const a = uniqueName('cmd-b');
      await store.append(s, 'no_stream', [event(s, a)], mark(a));
      await expect(open().append(other, 'no_stream', [event(other, a)], mark(a, 'h2'))).rejects.toBeInstanceOf(CommandReusedError);
      await expect(open().append(s, 1, [event(s, a, { changed: true })], mark(a, 'h2'))).rejects.toBeInstanceOf(CommandReusedError);
      expect(await store.readStream(other)).toEqual([]);
      expect(await store.currentVersion(s)).toBe(1);
    });

    test('two processes running the same command at once store it once', async () => {
      const s = stream();
      const base = open();
      await base.append(s, 'no_stream', [event(s, uniqueName('create'))]);
      const a = uniqueName('cmd-c');
      const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => open().append(s, 1, [event(s, a, {}, new Date(Date.now() + i).toISOString())], mark(a))));
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won.length).toBeGreaterThanOrEqual(1);
      for (const l of lost) expect(l.reason).toBeInstanceOf(CommandAppendedError);
      const events = await base.readStream(s);
      expect(events.map((e) => e.envelope.event_id)).toEqual([events[0].envelope.event_id, eventIdFor(a, 0)]);
    });

    test('a claim takes the version an event would take: one wins, readers see it under its command decision, readAll never', async () => {
      const store = open();
      const s = stream();
      const bulk = uniqueName('bulk');
      const claim = (by: string, version: number): EventEnvelope => ({
        ...event(s, `${by}-claim`, { instance: { id: 'x' } }),
        event_type: 'INSTANCE_CREATED',
        aggregate_version: version,
        command_id: by,
        metadata: { storage_mode: 's3_only', claimed_by: by },
      });
      const [a, b] = await Promise.all([open().claim(claim(bulk, 1)), open().claim(claim(uniqueName('other'), 1))]);
      expect([a, b].sort()).toEqual(['claimed', 'taken']);
      const winner = a === 'claimed' ? bulk : (await store.readStream(s))[0].envelope.command_id;
      await expect(store.append(s, 'no_stream', [event(s, uniqueName('single'))])).rejects.toBeInstanceOf(VersionConflictError);
      expect((await store.readStream(s)).map((e) => e.envelope.event_type)).toEqual(['CLAIM_PENDING']);

      expect(await open().decideClaims(winner, 'commit', { request_hash: 'h', stream: { aggregate_type: 'instance_batch', aggregate_id: 'db:b' } })).toBe('commit');
      expect(await open().decideClaims(winner, 'void', { request_hash: '', stream: { aggregate_type: 'instance_batch', aggregate_id: '' } })).toBe('commit');
      const read = await open().readStream(s);
      expect(read.map((e) => [e.envelope.aggregate_version, e.envelope.event_type, e.envelope.metadata.claimed_by])).toEqual([[1, 'INSTANCE_CREATED', winner]]);
      expect(await open().findCommand(winner)).toBeUndefined();

      // A voided claim keeps its version and changes nothing; the stream goes on after it.
      const t = stream();
      const loser = uniqueName('loser');
      expect(await store.claim({ ...claim(loser, 1), aggregate_id: t.aggregate_id })).toBe('claimed');
      expect(await open().decideClaims(loser, 'void', { request_hash: '', stream: { aggregate_type: 'instance_batch', aggregate_id: '' } })).toBe('void');
      await store.append(t, 1, [event(t, uniqueName('after'))]);
      expect((await open().readStream(t)).map((e) => e.envelope.event_type)).toEqual(['CLAIM_VOIDED', 'InstanceUpdated']);

      // The legacy store shows nothing younger than the oldest transaction open on the shared
      // PostgreSQL (its readAll holds back what a later commit could still land before), so wait for it.
      const readAllOnce = async () => {
        const events = [];
        for (let from: string | undefined; ;) {
          const page = await store.readAll({ from, limit: 1000 });
          events.push(...page.events);
          if (!page.hasMore) break;
          from = page.checkpoint;
        }
        return events;
      };
      const all = await eventually(readAllOnce, (events) => events.some((e) => e.envelope.aggregate_id === t.aggregate_id), 30_000, 250);
      expect(all.filter((e) => e.envelope.metadata.claimed_by !== undefined)).toEqual([]);
      expect(all.some((e) => e.envelope.aggregate_id === t.aggregate_id)).toBe(true);
    });

    test('findCommand knows nothing of a command that stored nothing', async () => {
      expect(await open().findCommand(uniqueName('never'))).toBeUndefined();
    });
  });
});

describe('S3 event store: an attempt that died between its command marker and its commit', () => {
  test('a retry in a re-created database stores the command there and fences the dead life, where the old attempt can no longer commit', async () => {
    const oldLife: StreamId = { aggregate_type: 'ontology_class', aggregate_id: uniqueName('db') + ':C' };
    const newLife: StreamId = { aggregate_type: 'ontology_class', aggregate_id: oldLife.aggregate_id.replace(':', '@2:') };
    const a = uniqueName('cmd-dead');
    const dead = s3.storeAt('stores');
    // The first attempt marked version 1 of the old life and wrote the event's objects, then died.
    const zombie = { ...event(oldLife, a, { life: 1 }), aggregate_version: 1 };
    expect((await dead.prepareEvent(zombie)).kind).toBe('ready');
    await (dead as unknown as { markCommand(envs: EventEnvelope[], m: { command_id: string; request_hash: string }): Promise<void> }).markCommand([zombie], mark(a).command);

    const retried = await s3.storeAt('stores').append(newLife, 'no_stream', [event(newLife, a, { life: 2 })], mark(a));
    expect(retried.events.map((e) => e.version)).toEqual([1]);
    const found = await s3.storeAt('stores').findCommand(a);
    expect(found?.stream).toEqual(newLife);
    expect(found?.events.map((e) => e.envelope.payload)).toEqual([{ life: 2 }]);

    // The dead attempt wakes up: its commit meets the fence, and the old life's stream holds no event of the command.
    expect((await dead.commitEvent(zombie)).kind).toBe('conflict');
    const old = await s3.storeAt('stores').readStream(oldLife);
    expect(old.map((e) => [e.envelope.aggregate_version, e.envelope.event_type])).toEqual([[1, 'CLAIM_VOIDED']]);
    expect((await s3.storeAt('stores').findCommand(a))?.stream).toEqual(newLife);
  }, 60_000);
});

describe('dual-write store: S3 decides, PostgreSQL holds a copy', () => {
  const stream = (): StreamId => ({ aggregate_type: 'instance', aggregate_id: uniqueName('db:dual') });
  const legacy = () => new LegacyPgEventStore(pool, dualSchema);
  const primary = () => s3.storeAt('dual');
  const same = (events: { envelope: EventEnvelope }[]) => events.map(({ envelope: e }) => [e.aggregate_version, e.event_id, e.event_type, e.command_id, e.occurred_at, e.payload]);

  /** The legacy store with its next `n` appends failing as a database outage would. */
  function failingLegacy(n: number): { store: EventStore; attempts: () => number } {
    const store = legacy();
    const append = store.append.bind(store);
    let attempts = 0;
    store.append = async (...args: Parameters<EventStore['append']>) => {
      if (attempts++ < n) throw new Error('connection terminated unexpectedly');
      return append(...args);
    };
    return { store, attempts: () => attempts };
  }

  test('both stores hold every appended event at the version S3 assigned, command marker included', async () => {
    const s = stream();
    const a = uniqueName('cmd');
    await dualWrite().append(s, 'no_stream', [fresh(s, { n: 1 })]);
    await dualWrite().append(s, 'any', [event(s, a, { n: 2 }), { ...event(s, a, { n: 3 }), event_id: eventIdFor(a, 1) }], mark(a));
    const fromS3 = await primary().readStream(s);
    expect(fromS3.map((e) => e.envelope.aggregate_version)).toEqual([1, 2, 3]);
    expect(same(await legacy().readStream(s))).toEqual(same(fromS3));
    expect((await legacy().findCommand(a))?.events.map((e) => e.envelope.aggregate_version)).toEqual([2, 3]);
    // Reads come from S3.
    expect(same(await dualWrite().readStream(s))).toEqual(same(fromS3));
  });

  test('a copy that fails surfaces as the append failing, and the retried append fills the copy in', async () => {
    const s = stream();
    const { store: flaky, attempts } = failingLegacy(1);
    const dual = dualWriteOf(primary(), flaky);
    const e = fresh(s, { n: 1 });
    await expect(dual.append(s, 'no_stream', [e])).rejects.toThrow('connection terminated unexpectedly');
    expect(await primary().currentVersion(s)).toBe(1);
    expect(await legacy().currentVersion(s)).toBe(0);

    expect((await dual.append(s, 'no_stream', [e])).events.map((x) => x.version)).toEqual([1]);
    expect(attempts()).toBe(2);
    expect(same(await legacy().readStream(s))).toEqual(same(await primary().readStream(s)));
  });

  test("a command stored in S3 whose copy failed: the command's retry meets it stored (COMMAND_APPENDED) and copies it", async () => {
    const s = stream();
    const a = uniqueName('cmd');
    const dual = dualWriteOf(primary(), failingLegacy(1).store);
    await expect(dual.append(s, 'no_stream', [event(s, a)], mark(a))).rejects.toThrow('connection terminated unexpectedly');
    // The retry decided again later (another occurred_at, same command id): S3 answers with the stored command.
    await expect(dual.append(s, 'no_stream', [event(s, a, {}, new Date(Date.now() + 5).toISOString())], mark(a))).rejects.toBeInstanceOf(CommandAppendedError);
    expect(same(await legacy().readStream(s))).toEqual(same(await primary().readStream(s)));
    expect((await legacy().findCommand(a))?.stream).toEqual(s);
  });

  test('a claim and its decision reach both stores; a failing copy of the decision surfaces', async () => {
    const s = stream();
    const bulk = uniqueName('bulk');
    const entry: EventEnvelope = {
      ...event(s, `${bulk}-claim`, { instance: { id: 'x' } }),
      event_type: 'INSTANCE_CREATED',
      aggregate_version: 1,
      command_id: bulk,
      metadata: { storage_mode: 'dual_write', claimed_by: bulk },
    };
    expect(await dualWrite().claim(entry)).toBe('claimed');
    const batch = { request_hash: 'h', stream: { aggregate_type: 'instance_batch', aggregate_id: 'db:b' } };
    const flaky = legacy();
    flaky.decideClaims = async () => {
      throw new Error('connection terminated unexpectedly');
    };
    await expect(dualWriteOf(primary(), flaky).decideClaims(bulk, 'commit', batch)).rejects.toThrow('connection terminated unexpectedly');
    // S3 decided; the retry copies that decision.
    expect(await dualWrite().decideClaims(bulk, 'commit', batch)).toBe('commit');
    for (const store of [primary(), legacy()]) {
      expect((await store.readStream(s)).map((e) => [e.envelope.aggregate_version, e.envelope.event_type, e.envelope.metadata.claimed_by])).toEqual([[1, 'INSTANCE_CREATED', bulk]]);
    }
  });

  test('a copy the legacy store cannot take at the version S3 assigned (its stream diverged) fails the append', async () => {
    const s = stream();
    await legacy().append(s, 'no_stream', [fresh(s, { written: 'by the legacy mode alone' })]);
    // The mirror finds another event at the version S3 gave: the stores diverged (final, no retry mends it).
    await expect(dualWrite().append(s, 'no_stream', [fresh(s, { n: 1 })])).rejects.toMatchObject({ code: 'STORE_CORRUPTED' });
    // S3 took the event all the same; the two stores now disagree about version 1.
    expect(payloads(await primary().readStream(s))).toEqual([{ n: 1 }]);
    expect(payloads(await legacy().readStream(s))).toEqual([{ written: 'by the legacy mode alone' }]);
  });
});

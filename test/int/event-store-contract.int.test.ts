/**
 * One contract, both event stores (S3 and the legacy PostgreSQL table): what the activities rely
 * on for exact retries. Each store runs the same cases against the real service; "two processes"
 * are two store instances that share nothing in memory.
 */
import { Pool } from 'pg';
import { eventIdFor, EventEnvelope } from '../../src/contracts/event-envelope';
import { CommandAppendedError, CommandReusedError, EventStore, StreamId, VersionConflictError } from '../../src/ports/event-store';
import { LegacyPgEventStore } from '../../src/adapters/postgres/legacy-event-store';
import { dropSchema, migrate } from '../../src/adapters/postgres/migrations';
import { createPool } from '../../src/adapters/postgres/postgres';
import { testConfig, uniqueName } from '../support/env';
import { s3StoreFixture } from '../support/events';

const s3 = s3StoreFixture('contract');
const schema = uniqueName('contract');
let pool: Pool;

beforeAll(async () => {
  pool = createPool(testConfig, { max: 8 });
  await Promise.all([migrate(pool, schema), s3.storeAt('setup').ensureBucket()]);
});
afterAll(async () => {
  await dropSchema(pool, schema);
  await pool.end();
  s3.client.destroy();
});

/** A fresh store instance each call: as a separate worker process would see the store. */
const stores: Array<[string, () => EventStore]> = [
  ['S3', () => s3.storeAt('stores')],
  ['legacy PostgreSQL', () => new LegacyPgEventStore(pool, schema)],
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

const mark = (commandId: string, hash = 'h1') => ({ command: { command_id: commandId, request_hash: hash } });

describe.each(stores)('%s event store', (_name, open) => {
  const stream = (): StreamId => ({ aggregate_type: 'instance', aggregate_id: uniqueName('db:i') });

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

    const all = [];
    for (let from: string | undefined; ;) {
      const page = await store.readAll({ from, limit: 1000 });
      all.push(...page.events);
      if (!page.hasMore) break;
      from = page.checkpoint;
    }
    expect(all.filter((e) => e.envelope.metadata.claimed_by !== undefined)).toEqual([]);
    expect(all.some((e) => e.envelope.aggregate_id === t.aggregate_id)).toBe(true);
  });

  test('findCommand knows nothing of a command that stored nothing', async () => {
    expect(await open().findCommand(uniqueName('never'))).toBeUndefined();
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

/** The legacy PostgreSQL event store (legacy and dual_write modes): optimistic concurrency and read order. */
import { Pool } from 'pg';
import { eventIdFor, EventEnvelope } from '../../src/contracts/event-envelope';
import { EventIdReusedError, InvalidEventError, StreamId, VersionConflictError } from '../../src/ports/event-store';
import { LegacyPgEventStore } from '../../src/adapters/postgres/legacy-event-store';
import { dropSchema, migrate } from '../../src/adapters/postgres/migrations';
import { createOwnerPool } from '../../src/adapters/postgres/postgres';
import { testConfig, uniqueName } from '../support/env';

const schema = uniqueName('legacy');
let pool: Pool;
let store: LegacyPgEventStore;

const stream = (id: string): StreamId => ({ aggregate_type: 'Instance', aggregate_id: id });

/** Versions are assigned by append; the draft's version is only a placeholder. */
function event(id: string, commandId: string, n = 0, payload: unknown = { commandId, n }): EventEnvelope {
  return {
    event_id: eventIdFor(commandId, n),
    event_type: 'InstanceUpdated',
    aggregate_type: 'Instance',
    aggregate_id: id,
    aggregate_version: 0,
    occurred_at: new Date().toISOString(),
    actor: 'alice',
    command_id: commandId,
    schema_version: 1,
    payload,
    metadata: { storage_mode: 'legacy', trace_id: 't-1' },
  };
}

beforeAll(async () => {
  pool = createOwnerPool(testConfig, { max: 12 });
  await migrate(pool, schema);
  store = new LegacyPgEventStore(pool, schema);
});

afterAll(async () => {
  await dropSchema(pool, schema);
  await pool.end();
});

test('append assigns consecutive versions and readStream returns them in order with the whole envelope', async () => {
  const s = stream('a');
  const first = await store.append(s, 'no_stream', [event('a', 'c1', 0), event('a', 'c1', 1)]);
  expect(first.events.map((e) => e.version)).toEqual([1, 2]);
  expect(first.nextExpectedVersion).toBe(2);
  const second = await store.append(s, 2, [event('a', 'c2')]);
  expect(second.events.map((e) => e.version)).toEqual([3]);
  expect(await store.currentVersion(s)).toBe(3);
  expect(await store.currentVersion(stream('none'))).toBe(0);

  const read = await store.readStream(s);
  expect(read.map((e) => e.envelope.aggregate_version)).toEqual([1, 2, 3]);
  expect(read[0].envelope).toEqual({ ...event('a', 'c1', 0), aggregate_version: 1, occurred_at: expect.any(String) });
  expect(read[0].s3).toBeUndefined();
  expect((await store.readStream(s, { fromVersion: 2, toVersion: 2 })).map((e) => e.envelope.event_id)).toEqual([event('a', 'c1', 1).event_id]);
  expect((await store.aggregateAt(s, 2)).map((e) => e.envelope.aggregate_version)).toEqual([1, 2]);
  expect(await store.aggregateAt(s, 0)).toEqual([]);
});

test('optimistic concurrency: of concurrent appends at one expected version exactly one wins', async () => {
  const s = stream('race');
  await store.append(s, 0, [event('race', 'init')]);
  const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.append(s, 1, [event('race', `w${i}`)])));
  const won = results.filter((r) => r.status === 'fulfilled');
  const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(won).toHaveLength(1);
  expect(lost).toHaveLength(9);
  for (const l of lost) {
    expect(l.reason).toBeInstanceOf(VersionConflictError);
    expect(l.reason).toMatchObject({ code: 'VERSION_CONFLICT', expected: 1, actual: 2 });
  }
  expect((await store.readStream(s)).map((e) => e.envelope.aggregate_version)).toEqual([1, 2]);

  await expect(store.append(s, 5, [event('race', 'ahead')])).rejects.toMatchObject({ code: 'VERSION_CONFLICT', actual: 2 });
  await expect(store.append(s, 'no_stream', [event('race', 'again')])).rejects.toBeInstanceOf(VersionConflictError);
  await expect(store.append(stream('empty'), 'stream_exists', [event('empty', 'x')])).rejects.toBeInstanceOf(VersionConflictError);
});

test("concurrent 'any' appends all land, without gaps or duplicates", async () => {
  const s = stream('any');
  await Promise.all(Array.from({ length: 12 }, (_, i) => store.append(s, 'any', [event('any', `any${i}`, 0), event('any', `any${i}`, 1)])));
  const read = await store.readStream(s);
  expect(read.map((e) => e.envelope.aggregate_version)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
  // A command's two events stay adjacent: one append is one statement.
  for (let i = 0; i < 24; i += 2) expect(read[i].envelope.command_id).toBe(read[i + 1].envelope.command_id);
});

test('a retried append is a no-op that returns the stored versions; a reused event id is refused', async () => {
  const s = stream('retry');
  const events = [event('retry', 'r1', 0), event('retry', 'r1', 1)];
  const first = await store.append(s, 0, events);
  await store.append(s, 2, [event('retry', 'r2')]);
  const again = await store.append(s, 0, events);
  expect(again.events).toEqual(first.events);
  expect(await store.currentVersion(s)).toBe(3);

  await expect(store.append(s, 3, [event('retry', 'r1', 0, { different: true })])).rejects.toBeInstanceOf(EventIdReusedError);
  await expect(store.append(s, 3, [event('other', 'o1')])).rejects.toBeInstanceOf(InvalidEventError);
  await expect(store.append(s, 3, [event('retry', 'd'), event('retry', 'd')])).rejects.toBeInstanceOf(InvalidEventError);
});

test('readAll pages in global order and does not skip an event of a transaction still in flight', async () => {
  const all: string[] = [];
  let from: string | undefined;
  for (;;) {
    const page = await store.readAll({ from, limit: 7 });
    all.push(...page.events.map((e) => e.envelope.event_id));
    from = page.checkpoint;
    if (!page.hasMore) break;
  }
  const { rows } = await pool.query(`SELECT event_id FROM "${schema}".legacy_events ORDER BY position`);
  expect(all).toEqual(rows.map((r) => r.event_id));

  const slow = await pool.connect();
  try {
    await slow.query('BEGIN');
    const early = event('inflight-1', 'if1');
    await store.append(stream('inflight-1'), 0, [early], {}, slow);
    const late = event('inflight-2', 'if2');
    await store.append(stream('inflight-2'), 0, [late]);
    const during = await store.readAll({ from });
    expect(during.events).toEqual([]);
    expect(during.checkpoint).toBe(from);
    await slow.query('COMMIT');
    const after = await store.readAll({ from });
    expect(after.events.map((e) => e.envelope.event_id)).toEqual([early.event_id, late.event_id]);
  } finally {
    await slow.query('ROLLBACK').catch(() => undefined);
    slow.release();
  }
  await expect(store.readAll({ from: 'garbage' })).rejects.toBeInstanceOf(InvalidEventError);
});

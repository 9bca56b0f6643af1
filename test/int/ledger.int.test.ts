/** The delivery ledger against the real PostgreSQL: migrations, idempotent record, in-order reading. */
import { Pool } from 'pg';
import { EventEnvelope, S3Reference } from '../../src/contracts/event-envelope';
import { DeliveryLedger } from '../../src/adapters/postgres/ledger';
import { LedgerStreamConflictError } from '../../src/ports/ledger';
import { dropSchema, migrate, MIGRATIONS } from '../../src/adapters/postgres/migrations';
import { migrateApiKeys } from '../../src/adapters/postgres/api-keys';
import { migrateAuditLog } from '../../src/adapters/postgres/audit-log';
import { migrateSubjectKeys } from '../../src/adapters/postgres/subject-keys';
import { createOwnerPool, quoteIdent, START_CURSOR } from '../../src/adapters/postgres/postgres';
import { testConfig, uniqueName } from '../support/env';
import { versionedEnvelope } from '../support/events';

const schema = uniqueName('ledger').replace(/-/g, '_');
let pool: Pool;
let ledger: DeliveryLedger;

const envelope = (aggregateId: string, version: number, commandId?: string): EventEnvelope => versionedEnvelope(aggregateId, version, { commandId, eventType: 'InstanceCreated' });

const ref = (e: EventEnvelope): S3Reference => ({ bucket: 'b', key: `events/${e.event_id}.json`, endpoint: 'http://x', event_id: e.event_id });

beforeAll(async () => {
  pool = createOwnerPool(testConfig, { max: 5 });
  ledger = new DeliveryLedger(pool, { schema, topic: 't', maxMessageBytes: testConfig.KAFKA_MAX_MESSAGE_BYTES });
});

afterAll(async () => {
  await dropSchema(pool, schema);
  await pool.end();
});

test('migrations run concurrently by several processes apply once and are idempotent', async () => {
  const pools = [createOwnerPool(testConfig, { max: 2 }), createOwnerPool(testConfig, { max: 2 }), createOwnerPool(testConfig, { max: 2 })];
  try {
    const results = await Promise.all(pools.map((p) => migrate(p, schema)));
    const all = MIGRATIONS.map((m) => m.version);
    expect(all.length).toBeGreaterThanOrEqual(3);
    // Exactly one of the three processes applied them, each once.
    expect(results.map((r) => r.applied).sort((a, b) => b.length - a.length)).toEqual([all, [], []]);
    expect((await migrate(pool, schema)).applied).toEqual([]);
    const { rows } = await pool.query(`SELECT version FROM ${quoteIdent(schema)}.schema_migrations ORDER BY version`);
    expect(rows.map((r) => r.version)).toEqual(all);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
});

test('different migration sets on one new schema, started by several processes at once, all apply (none loses the CREATE SCHEMA race)', async () => {
  const pools = [createOwnerPool(testConfig, { max: 4 }), createOwnerPool(testConfig, { max: 4 })];
  const fresh = Array.from({ length: 6 }, () => uniqueName('mig_race').replace(/-/g, '_'));
  try {
    // What an API and a worker starting together run: each its own sets on the same schema.
    const sets = [migrate, migrateApiKeys, migrateAuditLog, migrateSubjectKeys];
    const outcomes = await Promise.allSettled(fresh.flatMap((s) => pools.flatMap((p) => sets.map((run) => run(p, s)))));
    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason))).toEqual([]);
    for (const s of fresh) {
      const { rows } = await pool.query(`SELECT version FROM ${quoteIdent(s)}.schema_migrations ORDER BY version`);
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    }
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    for (const s of fresh) await dropSchema(pool, s);
  }
});

test('recording the same event twice is one row, returning the existing position', async () => {
  const a = envelope('rec-a', 1);
  const b = envelope('rec-a', 2);
  const first = await ledger.record([{ envelope: a, s3: ref(a) }]);
  expect(first).toEqual([{ eventId: a.event_id, position: expect.any(Number), inserted: true }]);
  const again = await ledger.record([{ envelope: a, s3: ref(a) }, { envelope: b, s3: ref(b) }, { envelope: a }]);
  expect(again).toEqual([
    { eventId: a.event_id, position: first[0].position, inserted: false },
    { eventId: b.event_id, position: expect.any(Number), inserted: true },
  ]);
  expect(again[1].position).toBeGreaterThan(first[0].position);
  // Concurrent duplicates (two activity attempts at once) still make one row.
  const c = envelope('rec-a', 3);
  const racing = await Promise.all([1, 2, 3, 4].map(() => ledger.record([{ envelope: c, s3: ref(c) }])));
  expect(racing.filter((r) => r[0].inserted)).toHaveLength(1);
  expect(new Set(racing.map((r) => r[0].position)).size).toBe(1);

  const rows = await ledger.byStream('Instance', 'rec-a');
  expect(rows.map((r) => r.aggregateVersion)).toEqual([1, 2, 3]);
  expect(rows[0]).toMatchObject({ status: 'pending', attempts: 0, key: 'rec-a', topic: 't', storageMode: 's3_only', s3Reference: ref(a), payload: a });
  expect((await ledger.byCommandId(a.command_id)).map((r) => r.eventId)).toEqual([a.event_id]);
  expect((await ledger.byEventIds([a.event_id, b.event_id, 'nope'])).map((r) => r.eventId)).toEqual([a.event_id, b.event_id]);
});

test('a different event at a recorded stream version is a typed conflict', async () => {
  await ledger.record([{ envelope: envelope('conf', 1) }]);
  await expect(ledger.record([{ envelope: envelope('conf', 1, 'another-command') }])).rejects.toBeInstanceOf(LedgerStreamConflictError);
});

test('large events are kept as stubs in the ledger', async () => {
  const big = { ...envelope('big', 1), payload: { blob: 'x'.repeat(testConfig.KAFKA_MAX_MESSAGE_BYTES) } };
  await ledger.record([{ envelope: big, s3: ref(big) }]);
  const [row] = await ledger.byEventIds([big.event_id]);
  expect(row.payload).toEqual({
    event_id: big.event_id,
    event_type: big.event_type,
    aggregate_type: 'Instance',
    aggregate_id: 'big',
    aggregate_version: 1,
    schema_version: big.schema_version,
    truncated: true,
  });
});

test('status counts and the reconciliation query see undelivered rows by age', async () => {
  const e = envelope('old', 1);
  await ledger.record([{ envelope: e }]);
  await pool.query(`UPDATE ${quoteIdent(schema)}.delivery_ledger SET created_at = now() - interval '10 minutes' WHERE event_id = $1`, [e.event_id]);
  const old = await ledger.undeliveredOlderThan(300);
  expect(old.map((r) => r.eventId)).toEqual([e.event_id]);
  const client = await pool.connect();
  try {
    await ledger.markDelivered(client, [{ eventId: e.event_id, partition: 2, offset: '9007199254740993' }]);
  } finally {
    client.release();
  }
  expect(await ledger.undeliveredOlderThan(300)).toEqual([]);
  const [row] = await ledger.byEventIds([e.event_id]);
  expect(row).toMatchObject({ status: 'delivered', kafkaPartition: 2, kafkaOffset: '9007199254740993', attempts: 1 });
  expect(row.deliveredAt).toBeInstanceOf(Date);
  const counts = await ledger.countsByStatus();
  expect(counts.delivered).toBe(1);
  expect(counts.failed).toBe(0);
  expect(counts.pending).toBeGreaterThan(0);
});

test('the position reader does not skip rows of a transaction still in flight', async () => {
  const start = await ledger.readAfter(START_CURSOR, 10_000);
  let cursor = start.next;

  const slow = await pool.connect();
  try {
    await slow.query('BEGIN');
    const early = envelope('inflight', 1);
    await ledger.record([{ envelope: early }], slow); // takes the lower position, not committed yet
    const late = envelope('inflight-other', 1);
    await ledger.record([{ envelope: late }]); // higher position, committed

    const [earlyRow] = await ledger.byEventIds([early.event_id], slow);
    const [lateRow] = await ledger.byEventIds([late.event_id]);
    expect(earlyRow.position).toBeLessThan(lateRow.position);

    const during = await ledger.readAfter(cursor, 100);
    expect(during.rows.map((r) => r.eventId)).not.toContain(late.event_id);
    expect(during.rows.map((r) => r.eventId)).not.toContain(early.event_id);
    cursor = during.next;

    await slow.query('COMMIT');
    const after = await ledger.readAfter(cursor, 100);
    expect(after.rows.map((r) => r.eventId)).toEqual([early.event_id, late.event_id]);
    expect((await ledger.readAfter(after.next, 100)).rows).toEqual([]);
  } finally {
    await slow.query('ROLLBACK').catch(() => undefined);
    slow.release();
  }
});

test('one event the ledger cannot hold does not keep the rest of its batch out', async () => {
  await migrate(pool, schema);
  const good = [envelope('iso-a', 1), envelope('iso-b', 1)];
  const poison = versionedEnvelope('iso-c', 1, { payload: { text: 'a\u0000b' } });
  await ledger.record([{ envelope: envelope('iso-d', 1, 'first') }]);
  const squatter = envelope('iso-d', 1, 'second');

  const { recorded, failed } = await ledger.recordEach([good[0], poison, squatter, good[1]].map((e) => ({ envelope: e, s3: ref(e) })));
  expect(recorded.map((r) => r.eventId)).toEqual(good.map((e) => e.event_id));
  expect(failed.map((f) => [f.eventId, f.code])).toEqual([
    [poison.event_id, 'EVENT_NOT_RECORDABLE'],
    [squatter.event_id, 'LEDGER_STREAM_CONFLICT'],
  ]);
  expect((await ledger.byEventIds([...good, poison, squatter].map((e) => e.event_id))).map((r) => r.eventId).sort()).toEqual(good.map((e) => e.event_id).sort());

  // record() records the same and then says why the rest could not be: a conflict is final, content is not.
  const more = envelope('iso-e', 1);
  await expect(ledger.record([{ envelope: poison }, { envelope: more }])).rejects.toMatchObject({ code: 'EVENT_NOT_RECORDABLE', eventIds: [poison.event_id] });
  expect(await ledger.byEventIds([more.event_id])).toHaveLength(1);
  await expect(ledger.record([{ envelope: squatter }, { envelope: poison }])).rejects.toMatchObject({ code: 'LEDGER_STREAM_CONFLICT' });
});

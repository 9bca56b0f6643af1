/**
 * The consumer kit on the real Kafka, MinIO and PostgreSQL: duplicates applied once, a crash
 * between effect and offset commit, S3 unreadable (payload fallback, counted), a poison event in
 * the dead-letter topic while the other aggregates flow, and order per aggregate across rebalances.
 * Each test has its own topic and consumer group; the file has its own schema and S3 prefix.
 */
import { logLevel, type Kafka, type Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { register } from 'prom-client';
import { createKafka, ensureTopic } from '../../src/adapters/kafka/kafka';
import { createOwnerPool } from '../../src/adapters/postgres/postgres';
import { createS3Client, S3EventStore } from '../../src/adapters/s3/s3-event-store';
import { createConsumer, DLT_HEADERS, replayDeadLetters, type ConsumerOptions, type RunningConsumer } from '../../src/consumer-kit';
import { eventually, testConfig, uniqueName } from '../support/env';
import { s3StoreFixture } from '../support/events';
import { createEffectsTable, effectsHandler, messageOnlyEvents, send, startKitProcess, storeEvents, type StoredTestEvent } from '../support/consumer-kit';

const schema = uniqueName('ckit').replace(/-/g, '_');
const fx = s3StoreFixture('ckit');
let pool: Pool;
let kafka: Kafka;
let producer: Producer;
const running: RunningConsumer[] = [];

const readerAt = (endpoint: string) => {
  const store = new S3EventStore({ client: createS3Client({ ...testConfig, s3Endpoint: endpoint }, { maxAttempts: 1 }), bucket: testConfig.S3_BUCKET, endpoint, prefix: `${fx.runPrefix}/` });
  return async (ref: Parameters<S3EventStore['readEvent']>[0]) => (await store.readEvent(ref)).envelope;
};

async function consumer(o: Partial<ConsumerOptions> & Pick<ConsumerOptions, 'group' | 'topic'>): Promise<RunningConsumer> {
  const c = await createConsumer({
    kafka,
    pool,
    schema,
    readEvent: readerAt(testConfig.s3Endpoint),
    handle: effectsHandler(schema, o.group),
    retryBackoffMs: 50,
    maxAttempts: 3,
    sessionTimeoutMs: 6000,
    ...o,
  });
  running.push(c);
  return c;
}

async function newTopic(name: string, partitions = 3): Promise<string> {
  const topic = uniqueName(name);
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopic(admin, topic, partitions);
  await admin.disconnect();
  return topic;
}

const effects = async (consumerName?: string) =>
  (await pool.query(`SELECT event_id, aggregate_id, version, source, at FROM "${schema}".effects ${consumerName ? 'WHERE consumer = $1' : ''} ORDER BY id`, consumerName ? [consumerName] : [])).rows;

async function manyEvents(aggregates: string[], perAggregate: number): Promise<StoredTestEvent[][]> {
  return Promise.all(aggregates.map((a) => storeEvents(fx, a, perAggregate)));
}

/** Round-robin across aggregates, each in version order: how the relay interleaves streams. */
const interleave = (streams: StoredTestEvent[][]): StoredTestEvent[] => streams[0].flatMap((_, v) => streams.map((s) => s[v]).filter(Boolean));

beforeAll(async () => {
  pool = createOwnerPool(testConfig, { max: 10 });
  kafka = createKafka(testConfig, { logLevel: logLevel.NOTHING }); // rebalances make kafkajs log every refused heartbeat
  producer = kafka.producer();
  await producer.connect();
  await createEffectsTable(pool, schema);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
});

afterAll(async () => {
  await producer.disconnect();
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await pool.end();
  fx.client.destroy();
});

test('duplicates injected into Kafka are applied once, read from S3, and counted as skipped', async () => {
  const topic = await newTopic('ckit-dup');
  const events = interleave(await manyEvents(['dup:a', 'dup:b', 'dup:c', 'dup:d'], 5));
  // Every event twice in a row, then the whole run again: what relay retries and reconciliation produce.
  await send(
    producer,
    topic,
    events.flatMap((e) => [e, e]),
  );
  await send(producer, topic, events);
  const c = await consumer({ group: uniqueName('dup'), topic });
  await eventually(
    async () => c.stats().handled + c.stats().duplicates,
    (n) => n >= 60,
    30_000,
  );

  const rows = await effects(c.group);
  expect(rows.map((r) => r.event_id).sort()).toEqual(events.map((e) => e.envelope.event_id).sort());
  expect(new Set(rows.map((r) => r.source))).toEqual(new Set(['s3']));
  expect(c.stats()).toMatchObject({ handled: 20, duplicates: 40, s3: 20, payload_fallback: 0, deadLettered: 0 });
  const { rows: marks } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".consumer_processed_events WHERE group_id = $1`, [c.group]);
  expect(marks[0].n).toBe(20);
  const text = await register.metrics();
  expect(text).toContain(`spice_consumer_duplicates_skipped_total{group="${c.group}"} 40`);
  expect(text).toContain(`spice_consumer_events_handled_total{group="${c.group}"} 20`);
  expect(text).toMatch(new RegExp(`spice_consumer_lag\\{group="${c.group}",topic="${topic}",partition="\\d"\\} 0`));
  expect(text).toContain(`spice_consumer_handler_duration_seconds_count{group="${c.group}"} 20`);
});

test('S3 unreadable: every event is taken from its message payload, and counted as a fallback', async () => {
  const topic = await newTopic('ckit-s3');
  const events = interleave(await manyEvents(['s3:a', 's3:b'], 5));
  await send(producer, topic, events);
  // The shared MinIO stays up; this consumer's reader points at a port where nothing listens.
  const c = await consumer({ group: uniqueName('s3down'), topic, readEvent: readerAt('http://127.0.0.1:1') });
  await eventually(
    async () => c.stats().handled,
    (n) => n >= 10,
    30_000,
  );
  const rows = await effects(c.group);
  expect(rows).toHaveLength(10);
  expect(new Set(rows.map((r) => r.source))).toEqual(new Set(['payload_fallback']));
  expect(c.stats()).toMatchObject({ handled: 10, s3: 0, payload_fallback: 10 });
  expect(await register.metrics()).toContain(`spice_consumer_event_reads_total{group="${c.group}",source="payload_fallback"} 10`);
});

test('a poison event goes to the dead-letter topic with its reason while the other aggregates flow; a replay applies it once fixed', async () => {
  const topic = await newTopic('ckit-dlt', 1);
  const streams = await manyEvents(['dlt:poison', 'dlt:b', 'dlt:c', 'dlt:d'], 3);
  const poison = streams[0][1];
  let broken = true;
  const base = effectsHandler(schema, 'dlt');
  // One partition, one batch: the poison's retries run beside the other aggregates, not before them.
  await send(producer, topic, interleave(streams));
  await producer.send({ topic, messages: [{ key: 'dlt:junk', value: 'not json', headers: { 'event-id': 'junk-1' } }] });
  const c = await consumer({
    group: uniqueName('dlt'),
    topic,
    // 1 s + 2 s of retries: the other aggregates' nine events (S3 reads on a loaded machine) fit in them.
    retryBackoffMs: 1000,
    handle: async (e, tx) => {
      if (broken && e.eventId === poison.envelope.event_id) throw Object.assign(new Error('cannot apply this one'), { code: 'BILLING_REFUSED' });
      await base(e, tx);
    },
  });
  await eventually(
    async () => c.stats().deadLettered,
    (n) => n >= 2,
    30_000,
  );
  await eventually(
    async () => c.stats().handled,
    (n) => n >= 11,
    10_000,
  );

  const letters = await c.store.listDeadLetters(c.group);
  const letter = letters.find((d) => d.key === 'dlt:poison')!;
  const junk = letters.find((d) => d.key === 'dlt:junk')!;
  expect(letter).toMatchObject({ event_id: poison.envelope.event_id, code: 'BILLING_REFUSED', reason: 'cannot apply this one', attempts: 3, key: 'dlt:poison' });
  expect(junk).toMatchObject({ event_id: 'junk-1', code: 'KAFKA_MESSAGE_INVALID', attempts: 1 });
  // Every other aggregate's events were committed before the poison's last attempt gave up.
  const rows = await effects('dlt');
  const others = rows.filter((r) => r.aggregate_id !== 'dlt:poison');
  expect(others).toHaveLength(9);
  const { rows: dead } = await pool.query(`SELECT dead_at FROM "${schema}".consumer_dead_letters WHERE id = $1`, [letter.id]);
  for (const r of others) expect(new Date(r.at).getTime()).toBeLessThan(new Date(dead[0].dead_at).getTime());
  // The poison's stream goes on after it (versions 1 and 3).
  expect(rows.filter((r) => r.aggregate_id === 'dlt:poison').map((r) => r.version)).toEqual([1, 3]);

  // The dead-letter topic holds both, with the reason in headers.
  const reader = kafka.consumer({ groupId: uniqueName('dlt-read'), maxWaitTimeInMs: 100 });
  const seen: Array<Record<string, string>> = [];
  await reader.connect();
  await reader.subscribe({ topic: c.topics.deadLetters, fromBeginning: true });
  await reader.run({ eachMessage: async ({ message }) => void seen.push(Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]))) });
  await eventually(
    async () => seen.length,
    (n) => n >= 2,
    20_000,
  );
  await reader.disconnect();
  expect(seen.find((h) => h['event-id'] === poison.envelope.event_id)).toMatchObject({
    [DLT_HEADERS.code]: 'BILLING_REFUSED',
    [DLT_HEADERS.reason]: 'cannot apply this one',
    [DLT_HEADERS.attempts]: '3',
    'event-id': poison.envelope.event_id,
  });

  broken = false;
  const replayed = await replayDeadLetters(kafka, c.store, { group: c.group, topic, ids: [letter.id] });
  expect(replayed.map((d) => d.id)).toEqual([letter.id]);
  await eventually(
    async () => (await effects('dlt')).filter((r) => r.event_id === poison.envelope.event_id).length,
    (n) => n === 1,
    20_000,
  );
  expect(await c.store.listDeadLetters(c.group)).toEqual([expect.objectContaining({ event_id: 'junk-1' })]);
});

test('order per aggregate holds across rebalances between two consumer instances, and nothing applies twice', async () => {
  const topic = await newTopic('ckit-order', 4);
  const aggregates = Array.from({ length: 8 }, (_, i) => `order:${i}`);
  const streams = aggregates.map((a) => messageOnlyEvents(a, 24));
  const group = uniqueName('order');
  const slow = effectsHandler(schema, group);
  const handle: ConsumerOptions['handle'] = async (e, tx) => {
    await new Promise((r) => setTimeout(r, 3));
    await slow(e, tx);
  };
  const rounds = [0, 1, 2, 3].map((r) => interleave(streams.map((s) => s.slice(r * 6, r * 6 + 6))));
  const a = await consumer({ group, topic, handle });
  await send(producer, topic, rounds[0]);
  await send(producer, topic, rounds[1]);
  const b = await consumer({ group, topic, handle }); // joins: the partitions are split while A is busy
  await send(producer, topic, rounds[2]);
  await eventually(
    async () => (await effects(group)).length,
    (n) => n >= 100,
    30_000,
  );
  await a.stop(); // leaves: B takes every partition, from A's last committed offsets
  running.splice(running.indexOf(a), 1);
  await send(producer, topic, rounds[3]);
  await eventually(
    async () => (await effects(group)).length,
    (n) => n >= 192,
    30_000,
  );
  await new Promise((r) => setTimeout(r, 500));

  const rows = await effects(group);
  expect(rows).toHaveLength(192);
  for (const id of aggregates) expect(rows.filter((r) => r.aggregate_id === id).map((r) => r.version)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
  expect(b.stats().handled).toBeGreaterThan(0);
  expect(a.stats().handled).toBeGreaterThan(0);
});

test('a consumer process killed between its effect and its offset commit applies nothing twice after restart', async () => {
  const topic = await newTopic('ckit-crash', 2);
  const events = interleave(['crash:a', 'crash:b', 'crash:c'].map((a) => messageOnlyEvents(a, 10)));
  await send(producer, topic, events);
  const spec = { topic, group: uniqueName('crash'), schema, s3Prefix: `${fx.runPrefix}/` };
  const first = startKitProcess({ ...spec, killAfter: 7 });
  await first.exited;
  const { rows: before } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".effects WHERE event_id = ANY($1)`, [events.map((e) => e.envelope.event_id)]);
  expect(before[0].n).toBeGreaterThanOrEqual(7);

  const second = startKitProcess(spec);
  await eventually(
    async () => (await pool.query(`SELECT count(*)::int AS n FROM "${schema}".effects WHERE event_id = ANY($1)`, [events.map((e) => e.envelope.event_id)])).rows[0].n,
    (n) => n >= 30,
    60_000,
  );
  await new Promise((r) => setTimeout(r, 500));
  const stats = await second.stop();
  const { rows } = await pool.query(`SELECT event_id, count(*)::int AS n FROM "${schema}".effects WHERE event_id = ANY($1) GROUP BY event_id`, [events.map((e) => e.envelope.event_id)]);
  expect(rows).toHaveLength(30);
  expect(rows.filter((r) => r.n !== 1)).toEqual([]);
  // What the killed process applied came again (its offsets were not committed) and was skipped.
  expect(stats!.duplicates).toBeGreaterThanOrEqual(1);
  expect(stats!.handled + stats!.duplicates).toBeGreaterThanOrEqual(30 - before[0].n + 1);
});

/** The Kafka relay against the real PostgreSQL and Kafka: order per stream, offsets, large events, the reader. */
import { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { Pool } from 'pg';
import { Registry } from 'prom-client';
import { EventEnvelope, S3Reference } from '../../src/contracts/event-envelope';
import { createEventReader, EventUnavailableError } from '../../src/adapters/kafka/event-reader';
import { createKafka, ensureTopic } from '../../src/adapters/kafka/kafka';
import { isStub, parseEventMessage } from '../../src/contracts/kafka-message';
import { KafkaRelay } from '../../src/adapters/kafka/kafka-relay';
import { PredecessorNotDelivered } from '../../src/ports/relay';
import { DeliveryLedger } from '../../src/adapters/postgres/ledger';
import { dropSchema, migrate } from '../../src/adapters/postgres/migrations';
import { createOwnerPool } from '../../src/adapters/postgres/postgres';
import { testConfig, uniqueName } from '../support/env';
import { versionedEnvelope } from '../support/events';

const schema = uniqueName('relay');
const topic = uniqueName('relay');
const maxBytes = testConfig.KAFKA_MAX_MESSAGE_BYTES;
let pool: Pool;
let kafka: Kafka;
let admin: Admin;
let ledger: DeliveryLedger;
let relay: KafkaRelay;

const envelope = (aggregateId: string, version: number, payload?: unknown): EventEnvelope => versionedEnvelope(aggregateId, version, { payload });

const ref = (e: EventEnvelope): S3Reference => ({ bucket: 'spice-event-store', key: `events/${e.aggregate_id}/${e.event_id}.json`, endpoint: 'http://127.0.0.1:9000', event_id: e.event_id });

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Publishes like a workflow activity does: retry while the predecessor is not delivered yet. */
async function publishWithRetry(ids: string[]): Promise<void> {
  let pending = ids;
  for (let attempt = 0; pending.length; attempt++) {
    try {
      await relay.publish(pending);
      return;
    } catch (err) {
      if (!(err instanceof PredecessorNotDelivered) || attempt > 500) throw err;
      pending = err.blocked;
      await sleep(5 + Math.random() * 20);
    }
  }
}

async function consumeAll(count: number, timeoutMs = 60_000): Promise<Array<KafkaMessage & { partition: number }>> {
  const consumer = kafka.consumer({ groupId: uniqueName('relay-test'), maxWaitTimeInMs: 200 });
  const out: Array<KafkaMessage & { partition: number }> = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    await consumer.run({
      eachMessage: async ({ message, partition }) => {
        out.push({ ...message, partition });
        if (out.length >= count) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([finished, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    await sleep(500); // give duplicates, if any, a chance to show up
    return out;
  } finally {
    await consumer.disconnect();
  }
}

beforeAll(async () => {
  pool = createOwnerPool(testConfig, { max: 12 });
  await migrate(pool, schema);
  kafka = createKafka(testConfig);
  admin = kafka.admin();
  await admin.connect();
  await ensureTopic(admin, topic, 6);
  ledger = new DeliveryLedger(pool, { schema, topic, maxMessageBytes: maxBytes });
  relay = new KafkaRelay({ ledger, kafka, maxMessageBytes: maxBytes });
  await relay.start();
});

afterAll(async () => {
  await relay?.close();
  await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin?.disconnect();
  await dropSchema(pool, schema);
  await pool.end();
});

test('ensureTopic is idempotent and keeps the partition count', async () => {
  expect(await ensureTopic(admin, topic, 6)).toEqual({ topic, created: false, partitions: 6 });
});

test('1,000 events over 20 streams, published by concurrent callers in random order, arrive in version order per stream', async () => {
  const streams = Array.from({ length: 20 }, (_, i) => `order-${i}`);
  const events = streams.flatMap((s) => Array.from({ length: 50 }, (_, v) => envelope(s, v + 1)));
  await ledger.record(events.map((e) => ({ envelope: e, s3: ref(e) })));

  // Like workflows finishing in any order: each caller holds a random handful of events of any streams.
  const ids = shuffle(events.map((e) => e.event_id));
  const batches: string[][] = [];
  for (let i = 0; i < ids.length; i += 25) batches.push(ids.slice(i, i + 25));
  const callers = batches.length;
  const started = Date.now();
  await Promise.all(batches.map((b) => publishWithRetry(b)));
  const elapsed = Date.now() - started;

  const rows = await ledger.byEventIds(events.map((e) => e.event_id));
  expect(rows).toHaveLength(1000);
  expect(rows.every((r) => r.status === 'delivered' && r.kafkaPartition !== null && r.kafkaOffset !== null && r.deliveredAt)).toBe(true);
  const { rows: perEvent } = await pool.query(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM "${schema}".delivery_ledger WHERE aggregate_id LIKE 'order-%'`);
  expect(perEvent[0]).toEqual({ n: 1000, d: 1000 });

  const messages = await consumeAll(1000);
  expect(messages).toHaveLength(1000); // rows are locked while sent: no duplicates without a failure
  const versions = new Map<string, number[]>();
  for (const m of messages) {
    const parsed = parseEventMessage(m.value);
    expect(m.key?.toString()).toBe(parsed.payload.aggregate_id);
    expect(m.headers?.['event-id']?.toString()).toBe(parsed.payload.event_id);
    expect(m.headers?.['event-type']?.toString()).toBe('InstanceUpdated');
    expect(Number(m.headers?.['aggregate-version']?.toString())).toBe(parsed.payload.aggregate_version);
    expect(parsed.s3_reference).toEqual(ref(parsed.payload as EventEnvelope));
    expect(parsed.metadata.storage_mode).toBe('s3_only');
    versions.set(parsed.payload.aggregate_id, [...(versions.get(parsed.payload.aggregate_id) ?? []), parsed.payload.aggregate_version]);
  }
  for (const s of streams) expect(versions.get(s)).toEqual(Array.from({ length: 50 }, (_, v) => v + 1));

  // The ledger's partition/offset name the very message the consumer saw.
  const byId = new Map(rows.map((r) => [r.eventId, r]));
  for (const m of messages) {
    const row = byId.get(m.headers!['event-id']!.toString())!;
    expect([row.kafkaPartition, row.kafkaOffset]).toEqual([m.partition, m.offset]);
  }
  console.log(`relay: 1000 events, ${callers} concurrent callers, ${elapsed} ms`);
});

test('publishing is idempotent and refuses to overtake an undelivered predecessor', async () => {
  const [v1, v2, v3] = [1, 2, 3].map((v) => envelope('gated', v));
  await ledger.record([v1, v2, v3].map((e) => ({ envelope: e, s3: ref(e) })));
  const blocked = await relay.publish([v3.event_id, v2.event_id]).catch((e) => e);
  expect(blocked).toBeInstanceOf(PredecessorNotDelivered);
  expect(blocked).toMatchObject({ code: 'PREDECESSOR_NOT_DELIVERED', published: 0 });
  expect(blocked.blocked.sort()).toEqual([v2.event_id, v3.event_id].sort());
  expect((await ledger.byEventIds([v2.event_id]))[0].status).toBe('pending');

  const first = await relay.publish([v1.event_id, v2.event_id, v3.event_id]);
  expect(first.published.map((d) => d.eventId)).toEqual([v1.event_id, v2.event_id, v3.event_id]);
  const again = await relay.publish([{ eventId: v1.event_id }]);
  expect(again).toEqual({ published: [], alreadyDelivered: [v1.event_id] });
});

test('a large event goes to Kafka as a stub under the size limit, and the reader takes its body from S3', async () => {
  const base = envelope('large', 1);
  const big = { ...base, payload: { blob: 'y'.repeat(maxBytes + 50_000) } };
  const small = envelope('large', 2);
  await ledger.record([
    { envelope: big, s3: ref(big) },
    { envelope: small, s3: ref(small) },
  ]);
  await relay.publish([big.event_id, small.event_id]);
  const [row] = await ledger.byEventIds([big.event_id]);

  const consumer = kafka.consumer({ groupId: uniqueName('relay-large') });
  await consumer.connect();
  const messages: KafkaMessage[] = [];
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() === 'large') messages.push(message);
      },
    });
    for (let i = 0; i < 300 && messages.length < 2; i++) await sleep(100);
  } finally {
    await consumer.disconnect();
  }
  expect(messages).toHaveLength(2);
  const [stubMsg, smallMsg] = messages;
  expect(stubMsg.offset).toBe(row.kafkaOffset);
  expect(stubMsg.value!.length).toBeLessThan(maxBytes);
  const parsed = parseEventMessage(stubMsg.value);
  expect(isStub(parsed.payload)).toBe(true);
  expect(parsed.payload).toEqual({
    event_id: big.event_id,
    event_type: big.event_type,
    aggregate_type: 'Instance',
    aggregate_id: 'large',
    aggregate_version: 1,
    schema_version: big.schema_version,
    truncated: true,
  });
  expect(parsed.s3_reference).toEqual(ref(big));

  // The reader: body from "S3" (injected), fallback to the payload when S3 fails, none for a stub.
  const registry = new Registry();
  let s3Up = true;
  const s3 = new Map([
    [ref(big).key, big],
    [ref(small).key, small],
  ]);
  const reader = createEventReader({
    registry,
    readEvent: async (r) => {
      if (!s3Up) throw new Error('S3 unavailable');
      return s3.get(r.key)!;
    },
  });
  expect(await reader.read(stubMsg.value)).toMatchObject({ source: 's3', envelope: big });
  expect(await reader.read(smallMsg.value)).toMatchObject({ source: 's3', envelope: small });
  s3Up = false;
  expect(await reader.read(smallMsg.value)).toMatchObject({ source: 'payload_fallback', envelope: small });
  await expect(reader.read(stubMsg.value)).rejects.toBeInstanceOf(EventUnavailableError);
  expect(reader.counts()).toEqual({ s3: 2, payload_fallback: 1 });
  expect(reader.fallbackRatio()).toBeCloseTo(1 / 3);
  const metrics = await registry.getSingleMetricAsString('spice_event_reads_total');
  expect(metrics).toContain('spice_event_reads_total{source="s3"} 2');
  expect(metrics).toContain('spice_event_reads_total{source="payload_fallback"} 1');
  // A second reader on the same registry shares the counter instead of failing to register it.
  expect(() => createEventReader({ registry, readEvent: async () => small })).not.toThrow();
});

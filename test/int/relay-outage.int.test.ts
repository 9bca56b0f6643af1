/**
 * A Kafka outage during publishing: the broker process is paused (SIGSTOP) rather than stopped,
 * because a paused broker answers nothing (the harshest case for timeouts) and resumes in
 * milliseconds with the same pid, where a restart takes many seconds.
 */
import { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { Pool } from 'pg';
import { EventEnvelope } from '../../src/contracts/event-envelope';
import { createKafka, ensureTopic } from '../../src/adapters/kafka/kafka';
import { parseEventMessage } from '../../src/contracts/kafka-message';
import { KafkaRelay } from '../../src/adapters/kafka/kafka-relay';
import { KafkaPublishError, PredecessorNotDelivered } from '../../src/ports/relay';
import { DeliveryLedger } from '../../src/adapters/postgres/ledger';
import { dropSchema, migrate } from '../../src/adapters/postgres/migrations';
import { createOwnerPool } from '../../src/adapters/postgres/postgres';
import { pauseService, resumeAll } from '../support/outage';
import { testConfig, uniqueName } from '../support/env';
import { versionedEnvelope } from '../support/events';

const schema = uniqueName('relay-outage');
const topic = uniqueName('relay-outage');
const maxBytes = testConfig.KAFKA_MAX_MESSAGE_BYTES;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const pauseBroker = (): void => pauseService('kafka');
const resumeBroker = resumeAll;

const envelope = (aggregateId: string, version: number): EventEnvelope => versionedEnvelope(aggregateId, version, { storageMode: 'dual_write' });

let pool: Pool;
let kafka: Kafka;
let admin: Admin;
let ledger: DeliveryLedger;
let relay: KafkaRelay;

beforeAll(async () => {
  pool = createOwnerPool(testConfig, { max: 5 });
  await migrate(pool, schema);
  admin = createKafka(testConfig).admin();
  await admin.connect();
  await ensureTopic(admin, topic, 3);
  // Short timeouts and few retries: a send must give up within seconds, not hang on the paused broker.
  kafka = createKafka(testConfig, { requestTimeout: 1_500, connectionTimeout: 1_000, retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 300 }, logLevel: 0 });
  ledger = new DeliveryLedger(pool, { schema, topic, maxMessageBytes: maxBytes });
  relay = new KafkaRelay({ ledger, kafka, maxMessageBytes: maxBytes, producer: { retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 300 } } });
  await relay.start();
});

afterAll(async () => {
  resumeBroker();
  await relay?.close().catch(() => undefined);
  await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin?.disconnect();
  await dropSchema(pool, schema);
  await pool.end();
});

test('a broker outage leaves rows pending with attempts and last_error; they are delivered once it is back', async () => {
  const streams = ['s1', 's2', 's3'];
  const events = streams.flatMap((s) => Array.from({ length: 20 }, (_, v) => envelope(s, v + 1)));
  await ledger.record(events.map((envelope) => ({ envelope, s3: null })));
  const ids = (from: number, to: number) => events.filter((e) => e.aggregate_version >= from && e.aggregate_version <= to).map((e) => e.event_id);

  await relay.publish(ids(1, 5));

  let failure: unknown;
  const started = Date.now();
  pauseBroker();
  try {
    failure = await relay.publish(ids(6, 10)).catch((e) => e);
    const second = await relay.publish(ids(6, 12)).catch((e) => e);
    expect(second).toBeInstanceOf(KafkaPublishError);
  } finally {
    resumeBroker();
  }
  const outageMs = Date.now() - started;
  expect(failure).toBeInstanceOf(KafkaPublishError);
  expect(failure).toMatchObject({ code: 'KAFKA_PUBLISH_FAILED' });

  const during = await ledger.byEventIds(ids(6, 10));
  expect(during).toHaveLength(15);
  for (const r of during) {
    expect(r.status).toBe('pending');
    expect(r.attempts).toBe(2);
    expect(r.lastError).toMatch(/\S/);
    expect(r.kafkaOffset).toBeNull();
  }
  expect((await ledger.byEventIds(ids(11, 12))).every((r) => r.attempts === 1)).toBe(true);

  // Recovery: what reconciliation does, retried until the broker answers again.
  const recoveryStarted = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      await relay.publish(ids(6, 20));
      break;
    } catch (err) {
      if (!(err instanceof KafkaPublishError || err instanceof PredecessorNotDelivered) || attempt > 60) throw err;
      await sleep(250);
    }
  }
  const recoveryMs = Date.now() - recoveryStarted;

  const rows = await ledger.byEventIds(events.map((e) => e.event_id));
  expect(rows).toHaveLength(60);
  expect(rows.every((r) => r.status === 'delivered' && r.kafkaOffset !== null)).toBe(true);
  const { rows: counts } = await pool.query(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM "${schema}".delivery_ledger`);
  expect(counts[0]).toEqual({ n: 60, d: 60 });

  // At least once in Kafka, and per stream the first sighting of each event follows version order.
  const seen = await consume(createKafka(testConfig), 60);
  const firstSeen = new Map<string, number[]>();
  const ids_ = new Set<string>();
  for (const m of seen) {
    const p = parseEventMessage(m.value).payload;
    if (ids_.has(p.event_id)) continue;
    ids_.add(p.event_id);
    firstSeen.set(p.aggregate_id, [...(firstSeen.get(p.aggregate_id) ?? []), p.aggregate_version]);
  }
  expect(ids_.size).toBe(60);
  for (const s of streams) expect(firstSeen.get(s)).toEqual(Array.from({ length: 20 }, (_, v) => v + 1));
  console.log(`outage: two failed publishes in ${outageMs} ms, recovered in ${recoveryMs} ms, ${seen.length} messages for 60 events`);
});

async function consume(client: Kafka, count: number): Promise<KafkaMessage[]> {
  const consumer = client.consumer({ groupId: uniqueName('outage-test'), maxWaitTimeInMs: 200 });
  const out: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void out.push(message) });
    const ids = () => new Set(out.map((m) => m.headers?.['event-id']?.toString())).size;
    for (let i = 0; i < 300 && ids() < count; i++) await sleep(100);
    await sleep(500);
    return out;
  } finally {
    await consumer.disconnect();
  }
}

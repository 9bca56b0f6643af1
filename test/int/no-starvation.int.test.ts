/**
 * Issue 17 item 4, no starvation: a slow Kafka or S3 must not take the pool from everyone else.
 * With a pool of two connections, publishes waiting on a paused broker and projections waiting on
 * a paused MinIO for their gap's history hold no connection, so reads, ledger writes and other
 * streams' projections answer at once; what waited completes once the service is back.
 */
import type { Admin, Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import { createKafka, ensureTopic } from '../../src/adapters/kafka/kafka';
import { KafkaRelay } from '../../src/adapters/kafka/kafka-relay';
import { DeliveryLedger } from '../../src/adapters/postgres/ledger';
import { dropSchema, migrate } from '../../src/adapters/postgres/migrations';
import { createOwnerPool } from '../../src/adapters/postgres/postgres';
import { dropReadModels, migrateReadModels, ReadModelProjector } from '../../src/adapters/postgres/read-models';
import { pauseService, resumeAll } from '../support/outage';
import { testConfig, uniqueName } from '../support/env';
import { s3StoreFixture, versionedEnvelope } from '../support/events';
import { eventFactory } from '../support/read-models';

const schema = uniqueName('starve').replace(/-/g, '_');
const rm = `${schema}_rm`;
const topic = uniqueName('starve');
const maxBytes = testConfig.KAFKA_MAX_MESSAGE_BYTES;
const db = 'starve';
const event = eventFactory(schema);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long `work` took, or a failure when it took longer than `ms` (it was starved). */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<number> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - started;
}

let pool: Pool;
let kafka: Kafka;
let admin: Admin;
let ledger: DeliveryLedger;
let relay: KafkaRelay;
const s3 = s3StoreFixture('starve');
const store = s3.storeAt('events/');
let projector: ReadModelProjector;

const instance = (id: string, version: number, n: number) =>
  event(version === 1 ? 'INSTANCE_CREATED' : 'INSTANCE_UPDATED', 'instance', `${db}:${id}`, version, { db_name: db, instance: { id, class_id: 'K', properties: { n }, relationships: {} } });

beforeAll(async () => {
  pool = createOwnerPool(testConfig, { max: 2 });
  await migrate(pool, schema);
  await migrateReadModels(pool, rm);
  admin = createKafka(testConfig).admin();
  await admin.connect();
  await ensureTopic(admin, topic, 3);
  kafka = createKafka(testConfig, { logLevel: 0 });
  ledger = new DeliveryLedger(pool, { schema, topic, maxMessageBytes: maxBytes });
  relay = new KafkaRelay({ ledger, kafka, maxMessageBytes: maxBytes });
  await relay.start();
  const history = {
    readStream: async (type: string, id: string, toVersion?: number, fromVersion?: number) =>
      (await store.readStream({ aggregate_type: type, aggregate_id: id }, { toVersion, fromVersion })).map((e) => e.envelope),
  };
  projector = new ReadModelProjector(pool, rm, { history });
  await projector.apply([event('DATABASE_CREATED', 'database', db, 1, { name: db })]);
  await projector.apply([event('ONTOLOGY_CLASS_CREATED', 'ontology_class', `${db}:K`, 1, { db_name: db, definition: { id: 'K', label: 'K', properties: [{ name: 'n', type: 'integer' }] } })]);
}, 120_000);

afterAll(async () => {
  resumeAll();
  await relay?.close().catch(() => undefined);
  await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin?.disconnect();
  await dropReadModels(pool, rm).catch(() => undefined);
  await dropSchema(pool, schema);
  await pool.end();
  s3.client.destroy();
});

test('Kafka paused: publishes in flight hold no connection; reads, ledger writes and projections of other streams answer at once', async () => {
  const waiting = ['w1', 'w2', 'w3', 'w4'].map((s) => versionedEnvelope(`${schema}-${s}`, 1));
  await ledger.record(waiting.map((envelope) => ({ envelope, s3: null })));
  pauseService('kafka');
  let publishing: Promise<unknown>[] = [];
  const took: number[] = [];
  try {
    // More publishes than the pool has connections, each waiting on the broker.
    publishing = waiting.map((e) => relay.publish([e.event_id]).catch((err) => err));
    await sleep(1_000);
    took.push(await within(2_000, 'a read', pool.query('SELECT 1')));
    const other = versionedEnvelope(`${schema}-other`, 1);
    took.push(await within(2_000, 'a ledger write of another stream', ledger.record([{ envelope: other, s3: null }])));
    took.push(await within(2_000, 'a projection of another stream', projector.apply([instance('k-other', 1, 1)])));
    expect((await ledger.byEventIds(waiting.map((e) => e.event_id))).map((r) => r.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
  } finally {
    resumeAll();
  }
  console.log(`no-starvation (Kafka paused): read, ledger write, projection answered in ${took.join(', ')} ms`);
  // Whatever the outage made fail is published by the caller's retry (Temporal's, in the service).
  await Promise.all(publishing);
  for (let attempt = 0; attempt < 10; attempt++) {
    const left = (await ledger.byEventIds(waiting.map((e) => e.event_id))).filter((r) => r.status !== 'delivered');
    if (left.length === 0) break;
    await relay.publish(left.map((r) => r.eventId)).catch(() => sleep(1_000));
  }
  expect((await ledger.byEventIds(waiting.map((e) => e.event_id))).map((r) => r.status)).toEqual(['delivered', 'delivered', 'delivered', 'delivered']);
}, 180_000);

test('MinIO paused: projections waiting for their gap from S3 hold no connection; other streams project and read', async () => {
  // Streams g1, g2: v1 projected, v2 only in S3, v3 arrives (its projection must read v2 from S3).
  const gapped = ['g1', 'g2'];
  const arriving = [];
  for (const id of gapped) {
    const stream = { aggregate_type: 'instance', aggregate_id: `${db}:${id}` };
    const events = [instance(id, 1, 1), instance(id, 2, 2), instance(id, 3, 3)];
    await store.append(stream, 'no_stream', events);
    await projector.apply([events[0]]);
    arriving.push(events[2]);
  }
  pauseService('minio');
  let projecting: Promise<unknown>[] = [];
  const took: number[] = [];
  try {
    projecting = arriving.map((e) => projector.apply([e]));
    await sleep(1_000);
    took.push(await within(2_000, 'a read', pool.query(`SELECT count(*) FROM ${rm}.instances`)));
    took.push(await within(2_000, 'a projection of another stream', projector.apply([instance('k-free', 1, 1)])));
  } finally {
    resumeAll();
  }
  console.log(`no-starvation (MinIO paused): read, projection answered in ${took.join(', ')} ms`);
  await Promise.all(projecting);
  const { rows } = await pool.query(`SELECT instance_id, version, properties FROM ${rm}.instances WHERE instance_id = ANY($1) ORDER BY instance_id`, [gapped]);
  expect(rows).toEqual(gapped.map((id) => ({ instance_id: id, version: 3, properties: { n: 3 } })));
}, 180_000);

/**
 * What the consumer kit's tests share: events stored in S3 under the file's prefix and sent to a
 * topic as the relay sends them, an effects table with no unique key (so a double effect shows as
 * two rows), and a consumer in its own OS process that can kill itself between an effect and its
 * offset commit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { logLevel, type Kafka, type Producer } from 'kafkajs';
import type { Pool } from 'pg';
import type { EventEnvelope, S3Reference } from '../../src/contracts/event-envelope';
import { encodeEventMessage, HEADER_AGGREGATE_VERSION, HEADER_EVENT_ID, HEADER_EVENT_TYPE } from '../../src/contracts/kafka-message';
import { createKafka } from '../../src/adapters/kafka/kafka';
import { createOwnerPool } from '../../src/adapters/postgres/postgres';
import { createConsumer } from '../../src/consumer-kit';
import { s3StoreFixture, versionedEnvelope } from './events';
import { testConfig } from './env';

export interface StoredTestEvent {
  envelope: EventEnvelope;
  /** null: the message carries the event alone (tests of order and crashes need no S3 round trips). */
  s3: S3Reference | null;
}

/** n events of an aggregate (versions 1..n) that exist only in their messages. */
export const messageOnlyEvents = (aggregateId: string, n: number): StoredTestEvent[] =>
  Array.from({ length: n }, (_, i) => ({ envelope: versionedEnvelope(aggregateId, i + 1, { commandId: `${aggregateId}-${i + 1}-${randomUUID()}` }), s3: null }));

/** n events appended to an aggregate's stream in S3 (versions 1..n). */
export async function storeEvents(fx: ReturnType<typeof s3StoreFixture>, aggregateId: string, n: number): Promise<StoredTestEvent[]> {
  const stream = { aggregate_type: 'instance', aggregate_id: aggregateId };
  const drafts = Array.from({ length: n }, (_, i) => fx.event(stream, { n: i + 1 }));
  const { events } = await fx.storeAt('').append(stream, 0, drafts);
  return events.map((a, i) => ({ envelope: { ...drafts[i], aggregate_version: a.version }, s3: a.s3! }));
}

export const messageOf = (e: StoredTestEvent) => ({
  key: e.envelope.aggregate_id,
  value: encodeEventMessage(e.envelope, e.s3, 's3_only', testConfig.KAFKA_MAX_MESSAGE_BYTES).value,
  headers: { [HEADER_EVENT_ID]: e.envelope.event_id, [HEADER_EVENT_TYPE]: e.envelope.event_type, [HEADER_AGGREGATE_VERSION]: String(e.envelope.aggregate_version) },
});

export async function send(producer: Producer, topic: string, events: StoredTestEvent[]): Promise<void> {
  await producer.send({ topic, acks: -1, messages: events.map(messageOf) });
}

export async function createEffectsTable(pool: Pool, schema: string): Promise<void> {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"; CREATE TABLE "${schema}".effects (
    id bigserial PRIMARY KEY, consumer text, event_id text, aggregate_id text, version int, source text, at timestamptz DEFAULT clock_timestamp())`);
}

export const effectsHandler = (schema: string, consumer: string) => async (e: { eventId: string; aggregateId: string; aggregateVersion: number; source: string }, tx: { query: Pool['query'] }) => {
  await tx.query(`INSERT INTO "${schema}".effects (consumer, event_id, aggregate_id, version, source) VALUES ($1, $2, $3, $4, $5)`, [consumer, e.eventId, e.aggregateId, e.aggregateVersion, e.source]);
};

export interface KitProcessSpec {
  topic: string;
  group: string;
  schema: string;
  s3Prefix: string;
  /** SIGKILL itself right after the effect of this many events is committed, before their offsets are. */
  killAfter?: number;
}

export interface KitProcess {
  exited: Promise<number | null>;
  /** SIGTERM, then the stats line it printed. */
  stop(): Promise<{ handled: number; duplicates: number } | undefined>;
}

export function startKitProcess(spec: KitProcessSpec): KitProcess {
  const child: ChildProcess = spawn(process.execPath, [require.resolve('tsx/cli'), __filename], {
    env: { ...process.env, SPICE_TEST_KIT_CONSUMER: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'inherit'],
    cwd: path.join(__dirname, '..', '..'),
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      const line = out.split('\n').find((l) => l.startsWith('stats '));
      return line ? JSON.parse(line.slice(6)) : undefined;
    },
  };
}

async function main(spec: KitProcessSpec): Promise<void> {
  const kafka: Kafka = createKafka(testConfig, { logLevel: logLevel.NOTHING });
  const pool = createOwnerPool(testConfig, { max: 4 });
  const { S3EventStore, createS3Client } = await import('../../src/adapters/s3/s3-event-store');
  const store = new S3EventStore({ client: createS3Client(testConfig), bucket: testConfig.S3_BUCKET, endpoint: testConfig.s3Endpoint, prefix: spec.s3Prefix });
  let handled = 0;
  const consumer = await createConsumer({
    group: spec.group,
    topic: spec.topic,
    kafka,
    pool,
    schema: spec.schema,
    readEvent: async (ref) => (await store.readEvent(ref)).envelope,
    handle: effectsHandler(spec.schema, `pid-${process.pid}`),
    // The killed member's partitions go to the restarted one after this, not after kafkajs's 30 s.
    sessionTimeoutMs: 6000,
    onHandled: () => {
      handled += 1;
      // The effect is committed, its offset is not: the crash the kit must survive.
      if (spec.killAfter !== undefined && handled >= spec.killAfter) process.kill(process.pid, 'SIGKILL');
    },
  });
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await consumer.stop();
  const s = consumer.stats();
  process.stdout.write(`stats ${JSON.stringify({ handled: s.handled, duplicates: s.duplicates })}\n`);
  await pool.end();
}

if (require.main === module) {
  main(JSON.parse(process.env.SPICE_TEST_KIT_CONSUMER ?? '{}') as KitProcessSpec).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

/**
 * A consumer group over the spice-oms topic (kafkajs), with exactly-once effects in PostgreSQL.
 *
 * Per message: the event id is looked up in the group's processed-event store (a duplicate is
 * skipped without reading S3); the body is read from S3 by its reference, or taken from the payload
 * embedded in the message when S3 cannot be read (counted); the handler runs inside the transaction
 * that inserts the processed row, so its writes and the mark commit together. Offsets are committed
 * only after every message up to them has its effect committed (or is dead-lettered), so a crash
 * between effect and commit redelivers events whose marks are already there: they are skipped.
 *
 * Order: one partition's batch is split by message key (the aggregate id); each aggregate's events
 * run one after the other, different aggregates concurrently. Kafka gives each partition to one
 * member of the group, and a new owner after a rebalance starts at the last committed offset, where
 * the marks make it skip what the previous owner applied.
 *
 * Poison: a handler that keeps failing is retried `maxAttempts` times with backoff, then the message
 * goes to the group's dead-letter topic (headers carry the reason) and a row in the store, and the
 * partition moves on; other aggregates of the batch are not held while it retries. Replayed dead
 * letters arrive on the group's replay topic, which the consumer also reads.
 */
import type { Consumer, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Pool, PoolClient } from 'pg';
import type { Registry } from 'prom-client';
import type { EventEnvelope } from '../contracts/event-envelope';
import { HEADER_EVENT_ID, InvalidKafkaMessageError, parseEventMessage, type KafkaEventMessage } from '../contracts/kafka-message';
import { createEventReader, type EventReader, type ReadSource } from '../adapters/kafka/event-reader';
import { createIdempotentProducer, ensureTopic } from '../adapters/kafka/kafka';
import { withTransaction } from '../adapters/postgres/postgres';
import { grantToRuntimeRole } from '../adapters/postgres/runtime-role';
import { mapLimit } from '../lib/map-limit';
import { ConsumerStore, migrateConsumerStore, DEFAULT_CONSUMER_SCHEMA } from './store';
import { spiceMetrics } from '../contracts/metrics';
import { deadLetterTopic, DLT_HEADERS, replayTopic, validGroupName } from './topics';

/** What a handler gets: the event as stored, and where it came from. */
export interface ConsumedEvent<P = unknown> {
  envelope: EventEnvelope<P>;
  eventId: string;
  eventType: string;
  aggregateType: string;
  aggregateId: string;
  aggregateVersion: number;
  /** The envelope's schema_version: handlers branch on it when an event type's payload changes shape. */
  schemaVersion: number;
  /** 's3' (the source of truth) or 'payload_fallback' (S3 could not be read; the message's own copy). */
  source: ReadSource;
  topic: string;
  partition: number;
  offset: string;
  /** True when the event came back from the dead-letter replay topic. */
  replayed: boolean;
}

/** Writes its effect with `tx`: it commits with the event's processed mark, or not at all. Throwing retries the event. */
export type EventHandler = (event: ConsumedEvent, tx: PoolClient) => Promise<void>;

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ConsumerOptions {
  /** Kafka consumer group id; also the key of the processed-event store and part of the dead-letter topic's name. */
  group: string;
  topic: string;
  kafka: Kafka;
  pool: Pool;
  /**
   * The schemas' owner: creates the kit's tables and grants `pool`'s role what it needs on them
   * (README "Least privilege"). Default `pool`, when one role does both.
   */
  ownerPool?: Pool;
  handle: EventHandler;
  /** Reads an event from S3 by its reference (S3EventStore.readEvent); without it every event comes from its payload. */
  readEvent?: (ref: NonNullable<KafkaEventMessage['s3_reference']>) => Promise<EventEnvelope>;
  /** PostgreSQL schema of the processed-event store and the dead letters (default spice_consumers). */
  schema?: string;
  /** Attempts of one event before it is dead-lettered (default 5). */
  maxAttempts?: number;
  /** Backoff before the second attempt, doubling each time (default 200 ms). */
  retryBackoffMs?: number;
  /** Aggregates handled concurrently within one partition's batch (default 16). */
  concurrency?: number;
  /** Partitions handled concurrently (default 4). */
  partitionsConcurrently?: number;
  /** Partitions of the dead-letter and replay topics when they are created (default: the topic's). */
  partitions?: number;
  replicationFactor?: number;
  /** How long the group waits for a silent member before giving its partitions away (kafkajs default 30 s; the broker's minimum is 6 s). */
  sessionTimeoutMs?: number;
  /** Start from the oldest message when the group has no committed offset yet (default true). */
  fromBeginning?: boolean;
  registry?: Registry;
  logger?: Logger;
  /** After an event's effect is committed and before its offset is: e.g. to signal progress. */
  onHandled?: (event: ConsumedEvent) => void | Promise<void>;
}

export interface ConsumerStats {
  handled: number;
  s3: number;
  payload_fallback: number;
  duplicates: number;
  failures: number;
  deadLettered: number;
}

export interface RunningConsumer {
  readonly group: string;
  readonly topics: { events: string; deadLetters: string; replay: string };
  readonly store: ConsumerStore;
  stats(): ConsumerStats;
  stop(): Promise<void>;
}

export class ConsumerConfigError extends Error {
  readonly code = 'CONSUMER_CONFIG_INVALID';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quietLogger: Logger = { info() {}, warn() {}, error() {} };
const headerText = (headers: IHeaders | undefined, name: string): string | undefined => {
  const v = headers?.[name];
  return v === undefined ? undefined : String(Array.isArray(v) ? v[0] : v);
};

type Outcome = 'handled' | 'duplicate' | 'dead_lettered' | 'aborted';

export async function createConsumer(o: ConsumerOptions): Promise<RunningConsumer> {
  if (!validGroupName(o.group)) throw new ConsumerConfigError(`consumer group '${o.group}' must be 1-100 of [A-Za-z0-9._-]`);
  const group = o.group;
  const log = o.logger ?? quietLogger;
  const maxAttempts = o.maxAttempts ?? 5;
  const backoff = o.retryBackoffMs ?? 200;
  const store = new ConsumerStore(o.pool, o.schema ?? DEFAULT_CONSUMER_SCHEMA);
  const topics = { events: o.topic, deadLetters: deadLetterTopic(o.topic, group), replay: replayTopic(o.topic, group) };
  const m = spiceMetrics(o.registry);
  const metrics = {
    handled: m.consumerHandled,
    reads: m.consumerReads,
    duplicates: m.consumerDuplicates,
    failures: m.consumerFailures,
    deadLettered: m.consumerDeadLettered,
    lag: m.consumerLag,
    latency: m.consumerLatency,
  };
  const stats: ConsumerStats = { handled: 0, s3: 0, payload_fallback: 0, duplicates: 0, failures: 0, deadLettered: 0 };
  const reader: EventReader = createEventReader({
    readEvent: o.readEvent ?? (() => Promise.reject(new Error('this consumer reads no S3'))),
    ...(o.registry ? { registry: o.registry } : {}),
    onFallback: (err, m) => log.warn({ group, event_id: m.payload.event_id, err: String(err) }, 'S3 unreadable: event taken from the message payload'),
  });

  const owner = o.ownerPool ?? o.pool;
  await grantToRuntimeRole(owner, o.pool, [store.schema]);
  await migrateConsumerStore(owner, store.schema);
  const admin = o.kafka.admin();
  await admin.connect();
  try {
    const main = await ensureTopic(admin, topics.events, o.partitions ?? 6, o.replicationFactor);
    for (const t of [topics.deadLetters, topics.replay]) await ensureTopic(admin, t, o.partitions ?? main.partitions, o.replicationFactor);
  } finally {
    await admin.disconnect();
  }

  const producer: Producer = createIdempotentProducer(o.kafka);
  await producer.connect();
  // kafkajs gives up on some errors met while a broker comes back (e.g. coordinator not found); a consumer that stays down misses everything after.
  const consumer: Consumer = o.kafka.consumer({
    groupId: group,
    maxWaitTimeInMs: 100,
    ...(o.sessionTimeoutMs ? { sessionTimeout: o.sessionTimeoutMs, heartbeatInterval: Math.min(3000, Math.floor(o.sessionTimeoutMs / 6)) } : {}),
    retry: { restartOnFailure: async () => true },
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topics.events, topics.replay], fromBeginning: o.fromBeginning ?? true });

  async function deadLetter(topic: string, partition: number, m: KafkaMessage, eventId: string, code: string, reason: string, attempts: number): Promise<void> {
    const original = Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v)]));
    const headers = {
      ...original,
      [DLT_HEADERS.group]: group,
      [DLT_HEADERS.code]: code,
      [DLT_HEADERS.reason]: reason.slice(0, 2000),
      [DLT_HEADERS.attempts]: String(attempts),
      [DLT_HEADERS.source]: `${topic}/${partition}/${m.offset}`,
    };
    await producer.send({ topic: topics.deadLetters, acks: -1, messages: [{ key: m.key, value: m.value, headers }] });
    await store.recordDeadLetter({
      group_id: group,
      event_id: eventId,
      topic,
      kafka_partition: partition,
      kafka_offset: m.offset,
      key: m.key?.toString() ?? null,
      value: m.value?.toString('utf8') ?? null,
      headers: original,
      code,
      reason: reason.slice(0, 2000),
      attempts,
    });
    stats.deadLettered += 1;
    metrics.deadLettered.inc({ group, code });
    log.error({ group, event_id: eventId, code, reason, attempts, topic, partition, offset: m.offset }, 'event dead-lettered');
  }

  async function processMessage(topic: string, partition: number, m: KafkaMessage, running: () => boolean): Promise<Outcome> {
    let message: KafkaEventMessage;
    try {
      message = parseEventMessage(m.value);
    } catch (err) {
      // Retrying cannot change the bytes: straight to the dead letters.
      const id = headerText(m.headers, HEADER_EVENT_ID) ?? `${topic}/${partition}/${m.offset}`;
      await deadLetter(topic, partition, m, id, (err as InvalidKafkaMessageError).code ?? 'KAFKA_MESSAGE_INVALID', (err as Error).message, 1);
      return 'dead_lettered';
    }
    const eventId = message.payload.event_id;
    if (await store.isProcessed(group, eventId)) {
      stats.duplicates += 1;
      metrics.duplicates.inc({ group });
      return 'duplicate';
    }
    let lastError: unknown;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (attempt > 1) {
        await sleep(backoff * 2 ** (attempt - 2));
        if (!running()) return 'aborted';
      }
      const started = process.hrtime.bigint();
      try {
        const read = await reader.readMessage(message);
        stats[read.source] += 1;
        metrics.reads.inc({ group, source: read.source });
        const e = read.envelope;
        const event: ConsumedEvent = {
          envelope: e,
          eventId,
          eventType: e.event_type,
          aggregateType: e.aggregate_type,
          aggregateId: e.aggregate_id,
          aggregateVersion: e.aggregate_version,
          schemaVersion: e.schema_version ?? 1,
          source: read.source,
          topic,
          partition,
          offset: m.offset,
          replayed: topic === topics.replay,
        };
        const applied = await withTransaction(o.pool, async (tx) => {
          const first = await store.mark(tx, { group, eventId, aggregateId: e.aggregate_id, aggregateVersion: e.aggregate_version, topic, partition, offset: m.offset });
          if (first) await o.handle(event, tx);
          return first;
        });
        if (!applied) {
          stats.duplicates += 1;
          metrics.duplicates.inc({ group });
          return 'duplicate';
        }
        stats.handled += 1;
        metrics.handled.inc({ group });
        metrics.latency.observe({ group }, Number(process.hrtime.bigint() - started) / 1e9);
        await o.onHandled?.(event);
        return 'handled';
      } catch (err) {
        lastError = err;
        stats.failures += 1;
        metrics.failures.inc({ group });
        log.warn({ group, event_id: eventId, attempt, err: String(err) }, 'handler attempt failed');
      }
    }
    const code = (lastError as { code?: unknown })?.code;
    await deadLetter(topic, partition, m, eventId, typeof code === 'string' ? code : 'HANDLER_FAILED', lastError instanceof Error ? lastError.message : String(lastError), maxAttempts);
    return 'dead_lettered';
  }

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: o.partitionsConcurrently ?? 4,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const running = () => isRunning() && !isStale();
      const byAggregate = new Map<string, KafkaMessage[]>();
      for (const m of batch.messages) {
        const key = m.key?.toString('utf8') ?? '';
        byAggregate.set(key, [...(byAggregate.get(key) ?? []), m]);
      }
      const done = new Set<string>();
      let failure: unknown;
      await mapLimit([...byAggregate.values()], o.concurrency ?? 16, async (messages) => {
        for (const m of messages) {
          if (!running() || failure !== undefined) return;
          try {
            // An aggregate stops at its first unfinished event, so none of its later ones overtakes it.
            if ((await processMessage(batch.topic, batch.partition, m, running)) === 'aborted') return;
          } catch (err) {
            failure = err;
            return;
          }
          done.add(m.offset);
          await heartbeat().catch(() => undefined);
        }
      });
      // Commit the run of finished messages from the batch's start: anything after a gap is redelivered (and skipped where done).
      let last: string | undefined;
      for (const m of batch.messages) {
        if (!done.has(m.offset)) break;
        last = m.offset;
      }
      if (last !== undefined) {
        resolveOffset(last);
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
        metrics.lag.set({ group, topic: batch.topic, partition: String(batch.partition) }, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(last) - 1n)));
      }
      if (failure !== undefined) {
        // PostgreSQL or Kafka itself failed (not the handler): kafkajs retries the batch from the last resolved offset.
        log.error({ group, topic: batch.topic, partition: batch.partition, err: String(failure) }, 'batch interrupted; retrying');
        await sleep(backoff);
        throw failure;
      }
    },
  });
  log.info({ group, topics }, 'consumer started');

  return {
    group,
    topics,
    store,
    stats: () => ({ ...stats }),
    async stop() {
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    },
  };
}

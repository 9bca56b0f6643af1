/**
 * The consumer kit: what a team needs to react to spice-oms events with exactly-once effects in
 * PostgreSQL (README "Consuming events"). `startConsumer(settings, { group, handle })` is the short
 * way; `createConsumer` takes clients of your own.
 */
import type { Pool, PoolConfig } from 'pg';
import { createKafka, type KafkaSettings } from '../adapters/kafka/kafka';
import { createOwnerPool, createPool, type PoolSettings } from '../adapters/postgres/postgres';
import { grantToRuntimeRole } from '../adapters/postgres/runtime-role';
import { createS3Client, S3EventStore } from '../adapters/s3/s3-event-store';
import type { S3ClientConfig } from '../adapters/s3/s3-client';
import { createConsumer, type ConsumerOptions, type RunningConsumer } from './consumer';

export { createConsumer, ConsumerConfigError } from './consumer';
export type { ConsumedEvent, ConsumerOptions, ConsumerStats, EventHandler, Logger, RunningConsumer } from './consumer';
export { ConsumerStore, migrateConsumerStore, DEFAULT_CONSUMER_SCHEMA } from './store';
export type { DeadLetter } from './store';
export { replayDeadLetters } from './dead-letters';
export { deadLetterTopic, replayTopic, DLT_HEADERS } from './topics';

/** The settings startConsumer builds its clients from: spice-oms's own config has them all. */
export type ConsumerSettings = KafkaSettings &
  PoolSettings &
  S3ClientConfig & {
    S3_BUCKET: string;
    KAFKA_TOPIC: string;
    KAFKA_PARTITIONS: number;
    KAFKA_REPLICATION_FACTOR: number;
    /** The schemas' owner, for the kit's tables and the setup's (default: databaseUrl's role does both). */
    databaseOwnerUrl?: string;
  };

export interface StartOptions extends Omit<ConsumerOptions, 'kafka' | 'pool' | 'topic' | 'readEvent'> {
  /** Default: the settings' KAFKA_TOPIC. */
  topic?: string;
  /** Key prefix of the event store in the bucket (tests; '' in a deployment). */
  s3Prefix?: string;
  pool?: PoolConfig;
  /** Runs once before consuming, e.g. to create the handler's own tables (with `ownerPool`; `pool` is the handler's). */
  setup?: (pool: Pool, ownerPool: Pool) => Promise<void>;
}

export interface StartedConsumer extends RunningConsumer {
  /** Closes the pool and the S3 client too. */
  stop(): Promise<void>;
}

/** Builds the Kafka, PostgreSQL and S3 clients from settings and starts the group; stop() closes them all. */
export async function startConsumer(settings: ConsumerSettings, o: StartOptions): Promise<StartedConsumer> {
  const { s3Prefix, pool: poolConfig, topic, setup, ...rest } = o;
  const pool = createPool(settings, { application_name: `spice-oms-consumer-${o.group}`.slice(0, 63), ...poolConfig });
  const ownerPool = settings.databaseOwnerUrl === undefined ? pool : createOwnerPool({ ...settings, databaseOwnerUrl: settings.databaseOwnerUrl }, { max: 1 });
  const s3 = createS3Client(settings, { maxSockets: 16 });
  const events = new S3EventStore({ client: s3, bucket: settings.S3_BUCKET, endpoint: settings.s3Endpoint, prefix: s3Prefix ?? '' });
  try {
    // The owner's default privileges first: what the setup creates is the handler's to write.
    await grantToRuntimeRole(ownerPool, pool, []);
    await setup?.(pool, ownerPool);
    const running = await createConsumer({
      ...rest,
      ownerPool,
      topic: topic ?? settings.KAFKA_TOPIC,
      kafka: createKafka(settings, { clientId: `spice-oms-consumer-${o.group}` }),
      pool,
      readEvent: async (ref) => (await events.readEvent(ref)).envelope,
      partitions: o.partitions ?? settings.KAFKA_PARTITIONS,
      replicationFactor: o.replicationFactor ?? settings.KAFKA_REPLICATION_FACTOR,
    });
    return {
      ...running,
      stats: running.stats,
      async stop() {
        await running.stop();
        await pool.end().catch(() => undefined);
        s3.destroy();
      },
    };
  } catch (err) {
    await pool.end().catch(() => undefined);
    s3.destroy();
    throw err;
  } finally {
    if (ownerPool !== pool) await ownerPool.end().catch(() => undefined);
  }
}

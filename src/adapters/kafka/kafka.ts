/**
 * kafkajs client, topic and producer factories. Auto topic creation is off on the broker, so every
 * process ensures its topics at start.
 */
import fs from 'node:fs';
import { Admin, Kafka, KafkaConfig, logLevel, Partitioners, Producer, ProducerConfig, ICustomPartitioner } from 'kafkajs';

/** The fields of the app's config the client needs (adapters never import the config module itself). */
export interface KafkaSettings {
  kafkaBrokers: string[];
  KAFKA_REQUEST_TIMEOUT_MS?: number;
  KAFKA_SSL?: boolean;
  KAFKA_SSL_CA_PATH?: string;
  KAFKA_SASL_MECHANISM?: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  KAFKA_SASL_USERNAME?: string;
  KAFKA_SASL_PASSWORD?: string;
}

export class KafkaSecurityError extends Error {
  readonly code = 'KAFKA_SECURITY_SETTINGS';
}

/**
 * TLS and SASL for managed clusters. SASL sends credentials, so it implies TLS; asking for SASL with
 * TLS explicitly off is refused rather than sending a password in plain text.
 */
export function kafkaSecurityOptions(c: KafkaSettings, readFile: (path: string) => string = (p) => fs.readFileSync(p, 'utf8')): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const sasl = c.KAFKA_SASL_MECHANISM;
  if (sasl !== undefined && (c.KAFKA_SASL_USERNAME === undefined || c.KAFKA_SASL_PASSWORD === undefined)) {
    throw new KafkaSecurityError('KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
  }
  if (sasl === undefined && (c.KAFKA_SASL_USERNAME !== undefined || c.KAFKA_SASL_PASSWORD !== undefined)) {
    throw new KafkaSecurityError('KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD need KAFKA_SASL_MECHANISM (plain, scram-sha-256 or scram-sha-512)');
  }
  if (c.KAFKA_SSL === false && sasl !== undefined) throw new KafkaSecurityError('KAFKA_SSL=false, but SASL credentials are only sent over TLS');
  const tls = c.KAFKA_SSL ?? (sasl !== undefined || c.KAFKA_SSL_CA_PATH !== undefined);
  const options: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (tls) options.ssl = c.KAFKA_SSL_CA_PATH !== undefined ? { ca: [readFile(c.KAFKA_SSL_CA_PATH)] } : true;
  if (sasl !== undefined) options.sasl = { mechanism: sasl, username: c.KAFKA_SASL_USERNAME!, password: c.KAFKA_SASL_PASSWORD! } as KafkaConfig['sasl'];
  return options;
}

export function createKafka(config: KafkaSettings, overrides: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'spice-oms',
    brokers: config.kafkaBrokers,
    logLevel: logLevel.ERROR,
    connectionTimeout: 3_000,
    // Short: a broker that does not answer fails the attempt, the ledger notes it, Temporal retries.
    requestTimeout: config.KAFKA_REQUEST_TIMEOUT_MS ?? 5_000,
    ...kafkaSecurityOptions(config),
    ...overrides,
  });
}

export interface EnsureTopicResult {
  topic: string;
  created: boolean;
  partitions: number;
}

/**
 * Creates the topic unless it exists. An existing topic keeps its partition count: adding
 * partitions would move keys and break per-aggregate order for consumers.
 */
/**
 * Answers of a broker that has just started (or just created the topic) while its metadata catches up: the topic exists,
 * or is about to, but this broker does not know it yet. kafkajs gives up on them inside createTopics' wait for leaders.
 */
const METADATA_CATCHING_UP = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'NOT_CONTROLLER']);

export async function ensureTopic(admin: Admin, topic: string, partitions: number, replicationFactor = 1, o: { attempts?: number; backoffMs?: number } = {}): Promise<EnsureTopicResult> {
  const attempts = o.attempts ?? 20;
  for (let attempt = 1; ; attempt++) {
    try {
      return await ensureTopicOnce(admin, topic, partitions, replicationFactor);
    } catch (err) {
      const type = (err as { type?: string; cause?: { type?: string } }).type ?? (err as { cause?: { type?: string } }).cause?.type;
      if (attempt >= attempts || type === undefined || !METADATA_CATCHING_UP.has(type)) throw err;
      await new Promise((r) => setTimeout(r, Math.min(1000, (o.backoffMs ?? 100) * attempt)));
    }
  }
}

async function ensureTopicOnce(admin: Admin, topic: string, partitions: number, replicationFactor: number): Promise<EnsureTopicResult> {
  let created = false;
  // Checking first keeps kafkajs from logging the broker's TOPIC_ALREADY_EXISTS answer as an error on every start.
  if ((await admin.listTopics()).includes(topic)) return { topic, created, partitions: await partitionCount(admin, topic) };
  try {
    created = await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor }], waitForLeaders: true });
  } catch (err) {
    // Two processes starting together: the loser gets TOPIC_ALREADY_EXISTS, which is what it wanted.
    const nested = (err as { errors?: Array<{ type?: string }> }).errors ?? [];
    if ((err as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS' && !nested.some((e) => e.type === 'TOPIC_ALREADY_EXISTS')) throw err;
  }
  return { topic, created, partitions: await partitionCount(admin, topic) };
}

async function partitionCount(admin: Admin, topic: string): Promise<number> {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  return meta.topics[0]?.partitions.length ?? 0;
}

/**
 * The default partitioner, remembering where it put each message: a produce response carries only
 * the base offset per partition, so the relay needs the partition of every message to derive its offset.
 */
export function recordingPartitioner(chosen: WeakMap<object, number>): ICustomPartitioner {
  return () => {
    const inner = Partitioners.DefaultPartitioner();
    return (args) => {
      const partition = inner(args);
      chosen.set(args.message, partition);
      return partition;
    };
  };
}

/**
 * The relay's producer: idempotent (the broker drops its own retried duplicates), one request in
 * flight (so a retry cannot overtake a later batch of the same partition), acks from all replicas
 * (set per send). kafkajs retries an idempotent producer forever by default; bounded retries let a
 * send fail during an outage so the ledger records the attempt and Temporal owns the retry.
 */
export function createIdempotentProducer(kafka: Kafka, overrides: Partial<ProducerConfig> = {}): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2_000 },
    ...overrides,
  });
}

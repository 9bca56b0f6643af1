/**
 * Reads a whole topic once, from its first offset up to the high watermarks it had when the scan
 * began: what the disaster recovery marks as delivered (by the `event-id` header) and what the
 * fault tests check for order and duplicates. A throwaway consumer group, deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { HEADER_AGGREGATE_VERSION, HEADER_EVENT_ID } from '../../contracts/kafka-message';

export interface TopicEntry {
  partition: number;
  offset: string;
  key: string | null;
  /** The `event-id` header; undefined on a message the relay did not write. */
  eventId?: string;
  aggregateVersion?: number;
}

export class TopicScanTimeout extends Error {
  readonly code = 'TOPIC_SCAN_TIMEOUT';
}

export async function scanTopic(kafka: Kafka, topic: string, timeoutMs = 120_000): Promise<TopicEntry[]> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `spice-topic-scan-${randomUUID()}`;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    // The last offset to reach per partition; partitions with nothing in them are done already.
    const remaining = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high) - 1n]));
    const entries: TopicEntry[] = [];
    if (remaining.size === 0) return entries;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new TopicScanTimeout(`topic ${topic} not read to its end within ${timeoutMs} ms`)), timeoutMs);
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              const last = remaining.get(batch.partition);
              for (const m of batch.messages) {
                if (last === undefined || BigInt(m.offset) > last) break;
                const header = (name: string) => (m.headers?.[name] === undefined ? undefined : String(m.headers[name]));
                const version = header(HEADER_AGGREGATE_VERSION);
                entries.push({
                  partition: batch.partition,
                  offset: m.offset,
                  key: m.key === null ? null : String(m.key),
                  eventId: header(HEADER_EVENT_ID),
                  aggregateVersion: version === undefined ? undefined : Number(version),
                });
                if (BigInt(m.offset) >= last) remaining.delete(batch.partition);
              }
              if (remaining.size === 0) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect().catch(() => undefined);
    }
    return entries;
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}

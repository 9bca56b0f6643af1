/**
 * Operator side of the dead letters: list them, and replay them onto the group's replay topic,
 * which only that group's consumers read (other groups never see a replay). A replayed event is
 * handled like any other: skipped if the group has processed it since, dead-lettered again if it
 * still fails.
 */
import type { Kafka } from 'kafkajs';
import { createIdempotentProducer } from '../adapters/kafka/kafka';
import type { ConsumerStore, DeadLetter } from './store';
import { DLT_HEADERS, replayTopic } from './topics';

export async function replayDeadLetters(kafka: Kafka, store: ConsumerStore, o: { group: string; topic: string; ids?: number[] }): Promise<DeadLetter[]> {
  const pending = (await store.listDeadLetters(o.group)).filter((d) => o.ids === undefined || o.ids.includes(d.id));
  if (pending.length === 0) return [];
  const producer = createIdempotentProducer(kafka);
  await producer.connect();
  try {
    await producer.send({
      topic: replayTopic(o.topic, o.group),
      acks: -1,
      messages: pending.map((d) => ({ key: d.key, value: d.value, headers: { ...d.headers, [DLT_HEADERS.replayOf]: String(d.id) } })),
    });
  } finally {
    await producer.disconnect();
  }
  await store.markReplayed(
    o.group,
    pending.map((d) => d.id),
  );
  return pending;
}

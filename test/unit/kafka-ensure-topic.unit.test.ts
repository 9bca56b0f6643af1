/**
 * A broker that has just started answers a topic it has just created with UNKNOWN_TOPIC_OR_PARTITION
 * for a moment (kafkajs gives up on it inside createTopics' wait for leaders): the start retries that,
 * and nothing else. Found by CI: the first test files after `stack up` failed their start on it.
 */
import type { Admin } from 'kafkajs';
import { KafkaJSProtocolError } from 'kafkajs';
import { ensureTopic } from '../../src/adapters/kafka/kafka';

const unknownTopic = () => new KafkaJSProtocolError({ type: 'UNKNOWN_TOPIC_OR_PARTITION', code: 3, retriable: true, message: 'This server does not host this topic-partition' } as never);

/** An admin whose broker knows the topic only after `lagging` metadata calls. */
function freshBroker(lagging: number) {
  const topics = new Set<string>();
  let calls = 0;
  const admin = {
    listTopics: async () => [...topics],
    createTopics: async ({ topics: t }: { topics: Array<{ topic: string }> }) => {
      t.forEach((x) => topics.add(x.topic));
      if (calls++ < lagging) throw unknownTopic();
      return true;
    },
    fetchTopicMetadata: async ({ topics: t }: { topics: string[] }) => {
      if (calls++ < lagging) throw unknownTopic();
      return { topics: t.map((name) => ({ name, partitions: [{ partitionId: 0 }, { partitionId: 1 }] })) };
    },
  };
  return admin as unknown as Admin;
}

test('a topic whose metadata lags behind its creation is found on a later attempt', async () => {
  await expect(ensureTopic(freshBroker(3), 't', 2, 1, { backoffMs: 1 })).resolves.toEqual({ topic: 't', created: false, partitions: 2 });
});

test('the retries are bounded, and other errors are not retried', async () => {
  await expect(ensureTopic(freshBroker(100), 't', 2, 1, { attempts: 3, backoffMs: 1 })).rejects.toThrow('does not host this topic-partition');
  const denied = { listTopics: async () => Promise.reject(new KafkaJSProtocolError({ type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false, message: 'denied' } as never)) };
  let calls = 0;
  const counting = { listTopics: () => (calls++, denied.listTopics()) } as unknown as Admin;
  await expect(ensureTopic(counting, 't', 2, 1, { backoffMs: 1 })).rejects.toThrow('denied');
  expect(calls).toBe(1);
});

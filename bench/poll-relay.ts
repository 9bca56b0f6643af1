/**
 * The design being replaced, for the benchmark only: a relay that polls the outbox (the ledger's
 * pending rows) every POLL_INTERVAL_MS, POLL_BATCH rows at a time, publishes them to Kafka (the
 * same KafkaRelay adapter: ordered per stream, marks rows delivered), and a Kafka consumer that
 * applies each consumed event to the read models. A full batch is followed by the next poll at once.
 * Env: BENCH_SCHEMA, BENCH_PREFIX, KAFKA_TOPIC, POLL_INTERVAL_MS (5000), POLL_BATCH (100).
 */
import type { EachBatchPayload } from 'kafkajs';
import { loadConfig } from '../src/app/config';
import { connectInfrastructure } from '../src/app/composition';
import { parseEventMessage, isStub } from '../src/contracts/kafka-message';
import type { EventEnvelope } from '../src/contracts/event-envelope';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const config = loadConfig();
  const schema = process.env.BENCH_SCHEMA ?? 'bench_poll';
  const interval = Number(process.env.POLL_INTERVAL_MS ?? 5000);
  const batch = Number(process.env.POLL_BATCH ?? 100);
  const infra = await connectInfrastructure(config, {
    schema,
    readModelSchema: `${schema}_rm`,
    s3Prefix: process.env.BENCH_PREFIX ?? `${schema}/`,
    topic: config.KAFKA_TOPIC,
    poolMax: 10,
  });
  await infra.relay.start();
  let stopping = false;

  const relayLoop = (async () => {
    while (!stopping) {
      let n = 0;
      try {
        const { rows } = await infra.pool.query(`SELECT event_id FROM ${schema}.delivery_ledger WHERE status <> 'delivered' ORDER BY position LIMIT $1`, [batch]);
        n = rows.length;
        if (n) await infra.relay.publish(rows.map((r: { event_id: string }) => r.event_id));
      } catch (err) {
        if ((err as { retryable?: boolean }).retryable !== true) process.stderr.write(`relay: ${(err as Error).message}\n`);
      }
      if (n < batch) await sleep(interval);
    }
  })();

  const consumer = infra.kafka.consumer({ groupId: `${config.KAFKA_TOPIC}-projector`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: config.KAFKA_TOPIC, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch: b }: EachBatchPayload) => {
      const events: EventEnvelope[] = [];
      for (const m of b.messages) {
        const msg = parseEventMessage(m.value);
        events.push(isStub(msg.payload) && msg.s3_reference ? (await infra.s3Store.readEvent(msg.s3_reference)).envelope : (msg.payload as EventEnvelope));
      }
      for (let attempt = 0; ; attempt++) {
        try {
          await infra.projector.apply(events);
          break;
        } catch (err) {
          if (attempt > 20) throw err;
          await sleep(50 * 2 ** Math.min(attempt, 6));
        }
      }
    },
  });
  process.stdout.write('relay ready\n');
  const stop = () => {
    stopping = true;
    void Promise.all([relayLoop, consumer.disconnect()]).finally(() => infra.close().then(() => process.exit(0)));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`poll-relay: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

/**
 * Benchmark of the ledger and the Kafka relay (not a test): record N events, publish them in
 * batches, report record and relay throughput and per-batch latency; JSON goes to bench/results/.
 *
 *   npx tsx bench/adapters-relay.ts [--events 20000] [--streams 200] [--batch 500] [--workers 4] [--payload 512]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { eventIdFor, EventEnvelope, S3Reference } from '../src/contracts/event-envelope';
import { createKafka, ensureTopic } from '../src/adapters/kafka/kafka';
import { KafkaRelay } from '../src/adapters/kafka/kafka-relay';
import { DeliveryLedger } from '../src/adapters/postgres/ledger';
import { dropSchema, migrate } from '../src/adapters/postgres/migrations';
import { createOwnerPool } from '../src/adapters/postgres/postgres';
import { loadConfig } from '../src/app/config';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '20000' },
    streams: { type: 'string', default: '200' },
    batch: { type: 'string', default: '500' },
    workers: { type: 'string', default: '4' },
    payload: { type: 'string', default: '512' },
    partitions: { type: 'string', default: '6' },
  },
});
const N = Number(args.events);
const STREAMS = Number(args.streams);
const BATCH = Number(args.batch);
const WORKERS = Number(args.workers);
const PAYLOAD = Number(args.payload);

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : 0;
};
const round = (x: number) => Math.round(x * 100) / 100;

async function main(): Promise<void> {
  const config = loadConfig();
  const run = `bench-${Date.now().toString(36)}`;
  const schema = run;
  const topic = run;
  const pool = createOwnerPool(config, { max: WORKERS + 4 });
  const kafka = createKafka(config);
  const admin = kafka.admin();
  await admin.connect();
  const ledger = new DeliveryLedger(pool, { schema, topic, maxMessageBytes: config.KAFKA_MAX_MESSAGE_BYTES });
  const relay = new KafkaRelay({ ledger, kafka, maxMessageBytes: config.KAFKA_MAX_MESSAGE_BYTES });
  try {
    await migrate(pool, schema);
    await ensureTopic(admin, topic, Number(args.partitions));
    await relay.start();

    // Interleaved streams, versions ascending: a batch in position order never waits on a later one.
    const blob = 'x'.repeat(PAYLOAD);
    const perStream = Math.ceil(N / STREAMS);
    const events: EventEnvelope[] = [];
    for (let v = 1; v <= perStream; v++) {
      for (let s = 0; s < STREAMS && events.length < N; s++) {
        const commandId = `${run}-${s}-${v}`;
        events.push({
          event_id: eventIdFor(commandId, 0),
          event_type: 'InstanceUpdated',
          aggregate_type: 'Instance',
          aggregate_id: `inst-${s}`,
          aggregate_version: v,
          occurred_at: new Date().toISOString(),
          actor: 'bench',
          command_id: commandId,
          schema_version: 1,
          payload: { blob },
          metadata: { storage_mode: 's3_only' },
        });
      }
    }
    const ref = (e: EventEnvelope): S3Reference => ({ bucket: config.S3_BUCKET, key: `events/${e.aggregate_id}/${e.event_id}.json`, endpoint: config.s3Endpoint, event_id: e.event_id });

    const recordStart = performance.now();
    for (let i = 0; i < events.length; i += 1000) await ledger.record(events.slice(i, i + 1000).map((e) => ({ envelope: e, s3: ref(e) })));
    const recordMs = performance.now() - recordStart;

    // Each worker owns whole streams, so workers never wait on each other's predecessors.
    const byWorker: string[][] = Array.from({ length: WORKERS }, () => []);
    for (const e of events) byWorker[Number(e.aggregate_id.slice(5)) % WORKERS].push(e.event_id);
    const latencies: number[] = [];
    const publishStart = performance.now();
    await Promise.all(
      byWorker.map(async (ids) => {
        for (let i = 0; i < ids.length; i += BATCH) {
          const t = performance.now();
          await relay.publish(ids.slice(i, i + BATCH));
          latencies.push(performance.now() - t);
        }
      }),
    );
    const publishMs = performance.now() - publishStart;
    const counts = await ledger.countsByStatus();
    if (counts.delivered !== events.length) throw new Error(`only ${counts.delivered} of ${events.length} delivered`);

    const result = {
      at: new Date().toISOString(),
      host: { cpus: os.cpus().length, node: process.version },
      params: { events: events.length, streams: STREAMS, batch: BATCH, workers: WORKERS, payloadBytes: PAYLOAD, partitions: Number(args.partitions) },
      record: { ms: round(recordMs), eventsPerSec: Math.round((events.length / recordMs) * 1000) },
      relay: {
        ms: round(publishMs),
        messagesPerSec: Math.round((events.length / publishMs) * 1000),
        batches: latencies.length,
        batchLatencyMs: { p50: round(percentile(latencies, 50)), p95: round(percentile(latencies, 95)), p99: round(percentile(latencies, 99)), max: round(Math.max(...latencies)) },
      },
    };
    const dir = path.join(__dirname, 'results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `adapters-relay-${result.at.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2));
    console.log(JSON.stringify(result, null, 2));
    console.log(`written to ${path.relative(process.cwd(), file)}`);
  } finally {
    await relay.close();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
    await dropSchema(pool, schema);
    await pool.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

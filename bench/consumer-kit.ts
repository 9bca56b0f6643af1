/**
 * Consumer kit benchmark on the stack: events handled per second by one consumer with the
 * idempotent store (each event: processed-mark lookup, S3 read by reference, one transaction with
 * the mark and a one-row effect, offsets committed per batch), then the same messages delivered
 * again (every one a duplicate, skipped after one lookup), and the same events read from their
 * payload without S3.
 *
 *   npx tsx bench/consumer-kit.ts [events=5000] [aggregates=100]
 */
import { logLevel } from 'kafkajs';
import { loadConfig } from '../src/app/config';
import { createKafka, ensureTopic } from '../src/adapters/kafka/kafka';
import { createOwnerPool } from '../src/adapters/postgres/postgres';
import { createS3Client, S3EventStore } from '../src/adapters/s3/s3-event-store';
import { envelopeOf, type EventEnvelope, type S3Reference } from '../src/contracts/event-envelope';
import { encodeEventMessage, HEADER_EVENT_ID } from '../src/contracts/kafka-message';
import { mapLimit } from '../src/lib/map-limit';
import { createConsumer, type RunningConsumer } from '../src/consumer-kit';

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 5000);
  const aggregates = Number(process.argv[3] ?? 100);
  const perAggregate = Math.ceil(total / aggregates);
  const config = loadConfig();
  const run = `bench-consumer-${Date.now().toString(36)}`;
  const schema = run.replace(/-/g, '_');
  const kafka = createKafka(config, { logLevel: logLevel.NOTHING });
  const pool = createOwnerPool(config, { max: 20 });
  const s3 = createS3Client(config);
  const store = new S3EventStore({ client: s3, bucket: config.S3_BUCKET, endpoint: config.s3Endpoint, prefix: `${run}/` });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopic(admin, run, 6);
  await admin.disconnect();
  await pool.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".effects (event_id text, aggregate_id text, version int)`);

  process.stdout.write(`storing ${aggregates * perAggregate} events in S3 (${aggregates} aggregates)...\n`);
  const stored: Array<{ envelope: EventEnvelope; s3: S3Reference }> = [];
  await mapLimit(
    Array.from({ length: aggregates }, (_, a) => a),
    8,
    async (a) => {
      const stream = { aggregate_type: 'instance', aggregate_id: `bench:${a}` };
      const drafts = Array.from({ length: perAggregate }, (_, i) =>
        envelopeOf(
          { event_type: 'INSTANCE_UPDATED', ...stream, payload: { n: i } },
          { commandId: `${run}-${a}-${i}`, position: 0, version: 0, occurredAt: new Date().toISOString(), actor: 'bench', storageMode: 's3_only' },
        ),
      );
      const { events } = await store.append(stream, 0, drafts);
      events.forEach((e, i) => stored.push({ envelope: { ...drafts[i], aggregate_version: e.version }, s3: e.s3! }));
    },
  );
  const producer = kafka.producer();
  await producer.connect();
  const messages = stored.map((e) => ({
    key: e.envelope.aggregate_id,
    value: encodeEventMessage(e.envelope, e.s3, 's3_only', config.KAFKA_MAX_MESSAGE_BYTES).value,
    headers: { [HEADER_EVENT_ID]: e.envelope.event_id },
  }));
  const sendAll = async () => {
    for (let i = 0; i < messages.length; i += 500) await producer.send({ topic: run, messages: messages.slice(i, i + 500) });
  };
  await sendAll();

  const measure = async (label: string, group: string, o: { s3: boolean }, done: (c: RunningConsumer) => boolean) => {
    let first = 0;
    const c = await createConsumer({
      group,
      topic: run,
      kafka,
      pool,
      schema,
      ...(o.s3 ? { readEvent: async (ref: S3Reference) => (await store.readEvent(ref)).envelope } : {}),
      handle: async (e, tx) => {
        first ||= Date.now();
        await tx.query(`INSERT INTO "${schema}".effects VALUES ($1, $2, $3)`, [e.eventId, e.aggregateId, e.aggregateVersion]);
      },
    });
    const joined = Date.now();
    while (!done(c)) await new Promise((r) => setTimeout(r, 20));
    const seconds = (Date.now() - (first || joined)) / 1000;
    const s = c.stats();
    await c.stop();
    process.stdout.write(
      `${label}: ${s.handled} handled, ${s.duplicates} duplicates skipped, s3 ${s.s3} / fallback ${s.payload_fallback} in ${seconds.toFixed(2)} s = ${Math.round((s.handled + s.duplicates) / seconds)} events/s\n`,
    );
    return s;
  };

  const n = stored.length;
  try {
    await measure('S3 reads, idempotent store  ', `${run}-s3`, { s3: true }, (c) => c.stats().handled >= n);
    await measure('payload, no S3, store       ', `${run}-payload`, { s3: false }, (c) => c.stats().handled >= n);
    // The whole topic again to the first group: every event is a duplicate now.
    await sendAll();
    const before = Date.now();
    let skipped = 0;
    const c = await createConsumer({ group: `${run}-s3`, topic: run, kafka, pool, schema, handle: async () => undefined, readEvent: async (ref) => (await store.readEvent(ref)).envelope });
    while (c.stats().duplicates < n) await new Promise((r) => setTimeout(r, 20));
    skipped = c.stats().duplicates;
    await c.stop();
    process.stdout.write(`redelivery, all duplicates  : ${skipped} skipped in ${((Date.now() - before) / 1000).toFixed(2)} s (group join included)\n`);
    const { rows } = await pool.query(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM "${schema}".effects`);
    process.stdout.write(`effects: ${rows[0].n} rows, ${rows[0].d} distinct events (2 groups x ${n})\n`);
  } finally {
    await producer.disconnect();
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
    s3.destroy();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

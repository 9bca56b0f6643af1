/**
 * Disaster recovery drill (issue 17, item 8): load a pipeline on a PostgreSQL database of its own,
 * drop that database (DROP DATABASE ... WITH (FORCE)), create it again empty, recover from S3
 * (src/app/recovery.ts, `npm run recover`), and the system serves again: every invariant of the
 * chaos run holds, no event lost, Kafka gets no duplicate of what it already had and the one event
 * it lacked, and a new command completes.
 */
import { randomUUID } from 'node:crypto';
import { Client as PgClient } from 'pg';
import { decide, initialState } from '../../src/domain';
import { envelopeOf } from '../../src/contracts/event-envelope';
import { loadConfig } from '../../src/app/config';
import { recoverFromEventStore } from '../../src/app/recovery';
import { scanTopic } from '../../src/adapters/kafka/topic-scan';
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually, testConfig, uniqueName } from '../support/env';
import { sendJson, seedDatabase } from '../support/http';
import { checkInvariants, kafkaOrder, problems } from '../support/invariants';

const database = uniqueName('spice_dr').replace(/-/g, '_');
const config = loadConfig({ ...process.env, API_RATE_LIMIT: '1000000', API_BULK_RATE_LIMIT: '100000', API_MAX_INFLIGHT_COMMANDS: '1000000', PG_DATABASE: database, DATABASE_URL: undefined });
const db = 'drill';
/** Instances in the bulk; DR_BULK=10000 times the recovery of a larger data set (CHAOS.md, "Recovery time"). */
const BULK = Number(process.env.DR_BULK ?? 30);
let p: Pipeline | undefined;

/** DDL on the server, from its maintenance database. */
async function server(sql: string): Promise<void> {
  const c = new PgClient({ connectionString: testConfig.databaseOwnerUrl.replace(/\/[^/]*$/, '/postgres') });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  await server(`CREATE DATABASE ${database}`);
});
afterAll(async () => {
  await p?.close();
  await server(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
}, 300_000);

const send = (method: string, path: string, body?: unknown) => sendJson(p!.url, method, path, body, { prefer: 'wait=60' });

test(
  'PostgreSQL lost: the ledger and the read models are rebuilt from S3, what Kafka has is not sent again, and the system serves',
  async () => {
    p = await startPipeline('e2e-dr', config);
    const id = p.id;
    await seedDatabase(p.url, db, { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] });
    for (let i = 0; i < 10; i++) expect((await send('POST', `/databases/${db}/classes/Item/instances`, { id: `i${i}`, properties: { n: i } })).status).toBe(201);
    expect((await send('PUT', `/databases/${db}/classes/Item/instances/i1`, { properties: { n: 100 } })).status).toBe(200);
    expect((await send('DELETE', `/databases/${db}/classes/Item/instances/i2`)).status).toBe(200);
    // Claims: ledger rows that are never sent.
    const bulk = await send('POST', `/databases/${db}/classes/Item/instances:bulk`, { instances: Array.from({ length: BULK }, (_, i) => ({ id: `b${i}`, properties: { n: i } })) });
    expect([201, 202]).toContain(bulk.status);
    // A large DR_BULK can outlast the wait: then until its run says COMPLETED.
    if (bulk.status === 202)
      await eventually(
        async () => (await send('GET', `/commands/${bulk.body.command_id}`)).body.status,
        (s) => s === 'COMPLETED',
        900_000,
        1000,
      );
    // An event a dead workflow left in S3 alone: Kafka never had it.
    const orphan = await orphanInS3(p, 'orphan');

    const before = (await p.ledgerRows()).map((r) => [r.event_id, r.status]);
    expect(before.filter(([, s]) => s !== 'delivered')).toEqual([]);
    const topicBefore = await scanTopic(p.api.infra.kafka, p.api.infra.topic);
    const kafkaBefore = topicBefore.length;
    const distinctBefore = new Set(topicBefore.map((m) => m.eventId)).size;
    await p.close({ keep: true });
    p = undefined;

    // The disaster: the project's database is gone; a new one is empty.
    await server(`DROP DATABASE ${database} WITH (FORCE)`);
    await server(`CREATE DATABASE ${database}`);

    p = await startPipeline('e2e-dr', config, { id });
    expect(await p.ledgerRows()).toEqual([]);
    const started = Date.now();
    const result = await recoverFromEventStore(p.api.infra);
    const seconds = (Date.now() - started) / 1000;
    console.log(`disaster recovery: ${JSON.stringify(result)} (${seconds.toFixed(1)} s)`);

    expect(result).toMatchObject({ recorded: before.length + 1, already_in_kafka: distinctBefore, relayed: 1, not_recorded: [], not_relayed: [] });
    expect(result.claims).toBe(BULK);
    expect((await p.ledgerRows()).map((r) => [r.event_id, r.status]).sort()).toEqual([...before, [orphan, 'delivered']].sort());
    const topic = await scanTopic(p.api.infra.kafka, p.api.infra.topic);
    expect(topic).toHaveLength(kafkaBefore + 1);
    expect(kafkaOrder(topic).duplicates).toBe(0);

    // It serves: reads from the rebuilt models, and a new command on a recovered stream.
    expect((await send('GET', `/databases/${db}/instances/i1`)).body).toMatchObject({ version: 2, properties: { n: 100 } });
    expect((await send('GET', `/databases/${db}/instances/orphan`)).status).toBe(200);
    expect((await send('PUT', `/databases/${db}/classes/Item/instances/b3`, { properties: { n: 33 } })).status).toBe(200);
    expect((await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'after', properties: { n: 1 } })).status).toBe(201);

    const report = await checkInvariants({ infra: p.api.infra, prefix: p.prefix, client: p.client, taskQueue: p.taskQueue, rebuild: true });
    expect(problems(report)).toEqual({});
    expect(report.duplicates).toBe(0);
  },
  BULK > 1000 ? 1_800_000 : 600_000,
);

/** What a workflow that died after its append leaves behind: the event in S3 and nothing else. */
async function orphanInS3(p: Pipeline, id: string): Promise<string> {
  const infra = p.api.infra;
  const command = { command_type: 'CREATE_INSTANCE', db_name: db, payload: { id, class_id: 'Item', properties: { n: 7 }, relationships: {} } };
  const decision = decide(command, initialState('instance'), {
    database: { aggregate_type: 'database', version: 1, status: 'active', name: db },
    classes: await infra.readModels.classCatalog(db),
    targets: {},
  });
  if (!decision.ok) throw new Error(decision.error.message);
  const envelope = envelopeOf<unknown>(decision.events[0], { commandId: randomUUID(), position: 0, version: 1, occurredAt: new Date().toISOString(), actor: 'test', storageMode: 's3_only' });
  await infra.s3Store.append({ aggregate_type: 'instance', aggregate_id: `${db}:${id}` }, 'no_stream', [envelope]);
  return envelope.event_id;
}

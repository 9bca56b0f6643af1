/**
 * The reference consumer end to end: commands through the API, the relay to Kafka, the audit
 * consumer (consumer kit, exactly-once into its PostgreSQL table) and GET /databases/{db}/audit
 * behind the reader role and database scope; its dead letters through the consumer CLI.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { deadLetterCommand, startNamedConsumer } from '../../src/app/consumer';
import type { StartedConsumer } from '../../src/consumer-kit';
import { eventually, testConfig, uniqueName } from '../support/env';
import { bearer, seedDatabase, sendJson } from '../support/http';
import { startPipeline, type Pipeline } from '../support/pipeline';

let p: Pipeline;
let consumer: StartedConsumer;
const group = uniqueName('audit');
const person = { id: 'Person', label: 'Person', properties: [{ name: 'name', type: 'string', required: true }], relationships: [] };
const wait = { prefer: 'wait=30' };

beforeAll(async () => {
  p = await startPipeline('e2e-audit');
  consumer = await startNamedConsumer(testConfig, 'audit', { schema: p.api.infra.schema, topic: p.api.infra.topic, s3Prefix: p.prefix, group });
});
afterAll(async () => {
  await consumer?.stop();
  await p?.close();
});

/** The consumer CLI as an operator runs it. */
function cli(...args: string[]): string {
  const r = spawnSync(process.execPath, ['--require', 'tsx/cjs', 'src/app/consumer.ts', 'audit', ...args, '--schema', p.api.infra.schema, '--topic', p.api.infra.topic, '--group', group], {
    cwd: path.join(__dirname, '..', '..'),
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect([r.status, r.stderr]).toEqual([0, '']);
  return r.stdout;
}

async function auditPages(db: string, key: string, limit: number): Promise<any[]> {
  const items: any[] = [];
  let cursor: string | null = null;
  do {
    const res = await sendJson(p.url, 'GET', `/databases/${db}/audit?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, undefined, bearer(key));
    expect(res.status).toBe(200);
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    items.push(...res.body.items);
    cursor = res.body.next_cursor;
  } while (cursor);
  return items;
}

test('every change of a database is in its audit log once, in stream order, read from S3, paged for a reader of that database', async () => {
  await seedDatabase(p.url, 'audited', person);
  await seedDatabase(p.url, 'elsewhere', person);
  for (const id of ['ada', 'bob', 'cyd']) expect((await sendJson(p.url, 'POST', '/databases/audited/classes/Person/instances', { id, properties: { name: id } }, wait)).status).toBe(201);
  expect((await sendJson(p.url, 'PUT', '/databases/audited/classes/Person/instances/ada', { properties: { name: 'Ada L.' } }, { ...wait, 'if-match': '1' })).status).toBe(200);
  expect((await sendJson(p.url, 'DELETE', '/databases/audited/classes/Person/instances/bob', undefined, wait)).status).toBe(200);

  const ledger = (await p.ledgerRows()).filter((r) => r.aggregate_id === 'audited' || r.aggregate_id.startsWith('audited:'));
  expect(ledger).toHaveLength(7);
  const reader = (await p.api.keys.create({ name: `${group}-reader`, role: 'reader', databases: ['audited'], created_by: 'test' })).key;
  const items = await eventually(
    () => auditPages('audited', reader, 3),
    (xs) => xs.length >= ledger.length,
    60_000,
  );
  expect(items.map((e) => e.event_id).sort()).toEqual(ledger.map((r) => r.event_id).sort());
  // Per aggregate, the consumer applied the versions in order.
  for (const id of new Set(items.map((e) => e.aggregate_id))) {
    const versions = items.filter((e) => e.aggregate_id === id).map((e) => e.aggregate_version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
  }
  expect(items.find((e) => e.event_type === 'INSTANCE_UPDATED')).toMatchObject({
    aggregate_id: 'audited:ada',
    aggregate_version: 2,
    actor: `key:${p.api.infra.schema.replace(/_/g, '-')}-writer`,
    schema_version: 1,
  });
  const positions = items.map((e) => e.position);
  expect(positions).toEqual([...positions].sort((a, b) => a - b));

  // The database scope and the role hold as on every read.
  expect((await sendJson(p.url, 'GET', '/databases/elsewhere/audit', undefined, bearer(reader))).status).toBe(403);
  expect((await fetch(`${p.url}/databases/audited/audit`)).status).toBe(401);
  expect((await sendJson(p.url, 'GET', '/databases/audited/audit?cursor=bm9wZQ', undefined, bearer(reader))).body.code).toBe('INVALID_QUERY');
  const { rows } = await p.api.infra.pool.query(`SELECT count(*)::int AS n FROM "${p.api.infra.schema}".audit_log WHERE db_name = 'elsewhere'`);
  expect(rows[0].n).toBe(2);
  expect(consumer.stats()).toMatchObject({ payload_fallback: 0, deadLettered: 0 });
  expect(consumer.stats().s3).toBe(consumer.stats().handled);

  // A reset group (here: a new one on the same table) reads everything again: the log keeps one row per event.
  const count = async () => (await p.api.infra.pool.query(`SELECT count(*)::int AS n FROM "${p.api.infra.schema}".audit_log`)).rows[0].n;
  const logged = await count();
  const reset = await startNamedConsumer(testConfig, 'audit', { schema: p.api.infra.schema, topic: p.api.infra.topic, s3Prefix: p.prefix, group: `${group}-reset` });
  try {
    await eventually(
      async () => reset.stats().handled,
      (n) => n >= consumer.stats().handled,
      60_000,
    );
    expect(reset.stats().deadLettered).toBe(0);
    expect(await count()).toBe(logged);
  } finally {
    await reset.stop();
  }
});

test('a message the consumer cannot read is dead-lettered; the CLI lists it, and a replay sends it through the replay topic', async () => {
  const producer = p.api.infra.kafka.producer();
  await producer.connect();
  await producer.send({ topic: p.api.infra.topic, messages: [{ key: 'audited:junk', value: '{"message_type":"EVENT"}', headers: { 'event-id': 'junk-audit-1' } }] });
  await producer.disconnect();
  await eventually(
    async () => consumer.stats().deadLettered,
    (n) => n >= 1,
    30_000,
  );

  const listed = JSON.parse(cli('dead-letters', '--json'));
  expect(listed).toEqual([expect.objectContaining({ event_id: 'junk-audit-1', code: 'KAFKA_MESSAGE_INVALID', key: 'audited:junk', attempts: 1 })]);
  // The replay as the CLI's `replay --all` does it, in-process (one CLI start per test is enough).
  const replayed = await deadLetterCommand(testConfig, 'audit', { replay: 'all', schema: p.api.infra.schema, topic: p.api.infra.topic, group });
  expect(replayed.map((d) => d.id)).toEqual([listed[0].id]);
  // Still unreadable: back in the dead letters, this time from the replay topic.
  await eventually(
    async () => consumer.stats().deadLettered,
    (n) => n >= 2,
    30_000,
  );
  const again = await consumer.store.listDeadLetters(group);
  expect(again).toEqual([expect.objectContaining({ event_id: 'junk-audit-1', topic: consumer.topics.replay, replayed_at: null })]);
});

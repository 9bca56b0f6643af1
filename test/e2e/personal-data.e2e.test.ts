/**
 * Crypto-shredding on the real services: values of properties marked personal are stored sealed
 * (never in plain text in S3, the ledger or Kafka), read in plain text until FORGET_SUBJECT, and
 * read as erased after it in every read path; a rebuild after forgetting stays erased.
 */
import { getText } from '../../src/adapters/s3/s3-client';
import { ERASED, instanceAggregateId } from '../../src/domain';
import { startPipeline, Pipeline } from '../support/pipeline';
import { sendJson } from '../support/http';
import { eventually } from '../support/env';

let p: Pipeline;
const db = 'people';
const send = (method: string, path: string, body?: unknown) => sendJson(p.url, method, path, body, { prefer: 'wait=30' });
const asAdmin = (path: string, body: unknown) => sendJson(p.url, 'POST', path, body, { authorization: `Bearer ${p.keys.admin}` });

const EMAIL = 'alice.secret@example.com';
const NAME = 'Alice Liddell-Secret';
const BOB_EMAIL = 'bob.hidden@example.com';

beforeAll(async () => {
  p = await startPipeline('e2e-personal');
});
afterAll(async () => {
  await p?.close();
});

/** Every S3 object of the pipeline, the ledger rows and the Kafka messages, as text. */
async function storedText(): Promise<{ s3: string; ledger: string; kafka: string }> {
  const keys = await p.s3Keys();
  const texts = await Promise.all(keys.map((k) => getText(p.api.infra.s3, p.api.infra.config.S3_BUCKET, p.prefix + k)));
  return { s3: texts.join('\n'), ledger: JSON.stringify(await p.ledgerRows()), kafka: JSON.stringify(p.messages.map((m) => m.value)) };
}

test('personal values are sealed everywhere they are stored, readable until forgotten, erased after in every read path', async () => {
  expect((await send('POST', '/databases', { name: db })).status).toBe(201);
  const cls = {
    id: 'Person',
    label: 'Person',
    properties: [
      { name: 'name', type: 'string', required: true, personal: true },
      { name: 'email', type: 'string', personal: true },
      { name: 'age', type: 'integer' },
    ],
  };
  expect((await send('POST', `/databases/${db}/classes`, cls)).status).toBe(201);
  expect((await send('POST', `/databases/${db}/classes/Person/instances`, { id: 'alice', properties: { name: NAME, email: EMAIL, age: 30 } })).status).toBe(201);
  expect((await send('PUT', `/databases/${db}/classes/Person/instances/alice`, { properties: { age: 31 } })).status).toBe(200);
  const bulk = await send('POST', `/databases/${db}/classes/Person/instances:bulk`, { instances: [{ id: 'bob', properties: { name: 'Bob', email: BOB_EMAIL, age: 40 } }] });
  expect(bulk.status).toBe(201);
  await p.waitForMessages(5);

  // Stored and relayed: sealed, never in plain text; the non-personal value as it is.
  const before = await storedText();
  for (const where of [before.s3, before.ledger, before.kafka]) {
    expect(where).not.toContain(EMAIL);
    expect(where).not.toContain(NAME);
    expect(where).not.toContain(BOB_EMAIL);
    expect(where).toContain('$sealed');
  }
  expect(before.kafka).toContain('"age":31');

  // Readable before forgetting: read model, history, time travel, search.
  const alice = await send('GET', `/databases/${db}/instances/alice`);
  expect(alice.body.properties).toEqual({ name: NAME, email: EMAIL, age: 31 });
  const history = await send('GET', `/databases/${db}/instances/alice/history`);
  expect(history.body.items.map((e: { payload: { instance: { properties: unknown } } }) => e.payload.instance.properties)).toEqual([
    { name: NAME, email: EMAIL, age: 30 },
    { name: NAME, email: EMAIL, age: 31 },
  ]);
  expect((await send('GET', `/databases/${db}/instances/alice/at/1`)).body).toMatchObject({ instance: { properties: { email: EMAIL, age: 30 } } });
  expect((await send('GET', `/databases/${db}/instances/bob`)).body.properties).toEqual({ name: 'Bob', email: BOB_EMAIL, age: 40 });
  await eventually(
    async () => (await send('GET', `/databases/${db}/search?q=${encodeURIComponent('alice.secret')}`)).body.items ?? [],
    (items) => items.some((h: { id: string }) => h.id === 'alice'),
  );
  const versionsBefore = (await p.ledgerRows('aggregate_id = $1', [instanceAggregateId(db, 'alice', 1)])).map((r) => r.aggregate_version);

  // Bad input: 4xx problem+json, nothing forgotten; a writer is refused.
  const bad = await asAdmin('/admin/forget-subject', { command_type: 'FORGET_SUBJECT', db_name: db, instance_id: '../alice' });
  expect(bad.status).toBe(422);
  expect(bad.headers.get('content-type')).toContain('application/problem+json');
  expect((await sendJson(p.url, 'POST', '/admin/forget-subject', { command_type: 'FORGET_SUBJECT', db_name: db, instance_id: 'alice' })).status).toBe(403);
  expect((await send('GET', `/databases/${db}/instances/alice`)).body.properties.email).toBe(EMAIL);

  // FORGET_SUBJECT (admin): the key goes, the read models and the search index are purged.
  const forgotten = await asAdmin('/admin/forget-subject', { command_type: 'FORGET_SUBJECT', db_name: db, instance_id: 'alice' });
  expect(forgotten.status).toBe(200);
  expect(forgotten.body).toMatchObject({ subject: instanceAggregateId(db, 'alice', 1), key_deleted: true, purged: { read_model: true } });

  const erased = { name: ERASED, email: ERASED };
  expect((await send('GET', `/databases/${db}/instances/alice`)).body.properties).toEqual({ ...erased, age: 31 });
  const after = await send('GET', `/databases/${db}/instances/alice/history`);
  expect(after.body.items.map((e: { payload: { instance: { properties: unknown } } }) => e.payload.instance.properties)).toEqual([
    { ...erased, age: 30 },
    { ...erased, age: 31 },
  ]);
  expect((await send('GET', `/databases/${db}/instances/alice/at/1`)).body).toMatchObject({ instance: { properties: { ...erased, age: 30 } } });
  await eventually(
    async () => (await send('GET', `/databases/${db}/search?q=${encodeURIComponent('alice.secret')}`)).body.items ?? [],
    (items) => !items.some((h: { id: string }) => h.id === 'alice'),
  );
  // Another subject is untouched; nothing else about the stream changed.
  expect((await send('GET', `/databases/${db}/instances/bob`)).body.properties).toEqual({ name: 'Bob', email: BOB_EMAIL, age: 40 });
  expect((await p.ledgerRows('aggregate_id = $1', [instanceAggregateId(db, 'alice', 1)])).map((r) => r.aggregate_version)).toEqual(versionsBefore);
  const afterText = await storedText();
  expect(afterText.s3).not.toContain(EMAIL);

  // A rebuild after forgetting stays erased, and equals the purged live read models.
  const target = `${p.api.infra.readModelSchema}_forgotten`;
  const outcome = await p.client.workflow.execute('rebuildReadModels', { taskQueue: p.taskQueue, workflowId: `rebuild-${target}`, args: [{ target_schema: target, chunk_size: 50 }] });
  expect(outcome).toMatchObject({ equal: true });
  const pool = p.api.infra.pool;
  const rebuilt = await pool.query(`SELECT instance_id, properties FROM ${target}.instances WHERE db_name = $1 ORDER BY instance_id`, [db]);
  expect(rebuilt.rows).toEqual([
    { instance_id: 'alice', properties: { ...erased, age: 31 } },
    { instance_id: 'bob', properties: { name: 'Bob', email: BOB_EMAIL, age: 40 } },
  ]);
  await p.api.infra.ownerPool.query(`DROP SCHEMA ${target} CASCADE`);

  // A second FORGET_SUBJECT finds no key and changes nothing.
  expect((await asAdmin('/admin/forget-subject', { command_type: 'FORGET_SUBJECT', db_name: db, instance_id: 'alice' })).body).toMatchObject({ key_deleted: false });
});

test('a bulk too large for a Temporal payload: its body in S3 holds no personal value in plain text, and the key that opens it is gone once the command ends', async () => {
  const bulkDb = 'people_bulk';
  expect((await send('POST', '/databases', { name: bulkDb })).status).toBe(201);
  const cls = {
    id: 'Person',
    label: 'Person',
    properties: [
      { name: 'email', type: 'string', personal: true },
      { name: 'note', type: 'string' },
    ],
  };
  expect((await send('POST', `/databases/${bulkDb}/classes`, cls)).status).toBe(201);
  const emailOf = (i: number) => `carol-${i}.private@example.com`;
  // Past the 128 KiB a Temporal payload takes inline: the body goes to S3 and travels by reference.
  const instances = Array.from({ length: 600 }, (_, i) => ({ id: `carol-${i}`, properties: { email: emailOf(i), note: 'n'.repeat(250) } }));
  const submit = () => sendJson(p.url, 'POST', `/databases/${bulkDb}/classes/Person/instances:bulk`, { instances }, { prefer: 'wait=30', 'idempotency-key': `carols-${p.id}` });
  const bulk = await submit();
  expect(bulk.status).toBe(201);
  const commandId = bulk.body.command_id as string;

  const bodyKeys = (await p.s3Keys()).filter((k) => k.startsWith(`commands/${commandId}/body-`));
  expect(bodyKeys).toHaveLength(1);
  const stored = await storedText();
  for (const i of [0, 7, 599]) {
    expect(stored.s3).not.toContain(emailOf(i));
    expect(stored.ledger).not.toContain(emailOf(i));
    expect(stored.kafka).not.toContain(emailOf(i));
  }
  const body = await getText(p.api.infra.s3, p.api.infra.config.S3_BUCKET, p.prefix + bodyKeys[0]);
  expect(body).toContain('$sealed');
  expect(body).not.toContain('carol-');

  // The instances read in plain text; the body's own key was deleted when the command ended.
  expect((await send('GET', `/databases/${bulkDb}/instances/carol-7`)).body.properties).toEqual({ email: emailOf(7), note: 'n'.repeat(250) });
  const bodyKeyRows = async () => (await p.api.infra.pool.query(`SELECT subject FROM ${p.id.replace(/-/g, '_')}.subject_keys WHERE subject LIKE '%' || $1`, [commandId])).rows;
  expect(await bodyKeyRows()).toEqual([]);
  // The same request again, after its command ended: answered from the first run, and the body it stored again leaves no key behind.
  const again = await submit();
  expect([again.status, again.body.command_id]).toEqual([200, commandId]);
  expect(await bodyKeyRows()).toEqual([]);
});

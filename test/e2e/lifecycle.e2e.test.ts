/**
 * Issue 8, item 5: the aggregate lifecycle. A database's classes, instances and batches belong to
 * one life of the database (its incarnation, the stream version of its DATABASE_CREATED): after a
 * deletion and a re-creation they start fresh streams, and nothing of the dead life can be
 * reached again, written to, or brought back into the read models (late projection,
 * reconciliation, rebuild). And the class in an instance's path must be the instance's class.
 * Checked on S3, the ledger, Kafka and the read models, not only on HTTP answers.
 */
import { randomUUID } from 'node:crypto';
import { envelopeOf } from '../../src/contracts/event-envelope';
import { encodeSegment } from '../../src/adapters/s3/s3-keys';
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually } from '../support/env';
import { sendJson } from '../support/http';

let p: Pipeline;
beforeAll(async () => {
  p = await startPipeline('e2e-lifecycle');
});
afterAll(async () => {
  await p?.close();
});

const send = (method: string, path: string, body?: unknown) => sendJson(p.url, method, path, body, { prefer: 'wait=30' });

/** Version index entries of one stream in S3. */
const indexOf = async (type: string, aggregateId: string) => (await p.s3Keys(`indexes/by-aggregate/${type}/${encodeSegment(aggregateId)}/`)).sort();
const allIndexKeys = async () => (await p.s3Keys('indexes/by-aggregate/')).sort();
const ledgerOf = async (aggregateId: string) => (await p.ledgerRows('aggregate_id = $1', [aggregateId])).map((r) => [r.event_type, r.aggregate_version, r.status]);
const kafkaTypes = (aggregateId: string) => p.messagesFor(aggregateId).map((m) => m.headers['event-type']);

const person = (label: string) => ({ id: 'Person', label, properties: [{ name: 'name', type: 'string', required: true }], relationships: [] });

/** Refused with `status`/`code`, and nothing new in S3, the ledger or the read models. */
async function refusedAndNothingStored(method: string, path: string, body: unknown, status: number, code: string) {
  const keys = await allIndexKeys();
  const rows = (await p.ledgerRows()).length;
  const res = await send(method, path, body);
  expect([res.status, res.body.code]).toEqual([status, code]);
  expect(await allIndexKeys()).toEqual(keys);
  expect((await p.ledgerRows()).length).toBe(rows);
  return res;
}

describe('a deleted and re-created database', () => {
  const db = 'lifecycle';
  let ledgerBefore = 0;

  test('the first life: a class and an instance on the streams of incarnation 1 (ids unchanged)', async () => {
    expect((await send('POST', '/databases', { name: db })).status).toBe(201);
    const cls = await send('POST', `/databases/${db}/classes`, person('Person'));
    expect(cls.status).toBe(201);
    expect(cls.body.events[0]).toMatchObject({ aggregate_id: `${db}:Person`, version: 1 });
    expect((await send('POST', `/databases/${db}/classes/Person/instances`, { id: 'ada', properties: { name: 'Ada' } })).status).toBe(201);
    expect((await send('PUT', `/databases/${db}/classes/Person/instances/ada`, { properties: { name: 'Ada L.' } })).status).toBe(200);
    expect(await indexOf('instance', `${db}:ada`)).toHaveLength(2);
    const history = await send('GET', `/databases/${db}/instances/ada/history`);
    expect(history.body.items.map((e: any) => [e.event_type, e.payload.db_incarnation])).toEqual([
      ['INSTANCE_CREATED', 1],
      ['INSTANCE_UPDATED', 1],
    ]);
  });

  test('while deleted: history and time travel answer 404, writes are refused and store nothing', async () => {
    expect((await send('DELETE', `/databases/${db}`)).status).toBe(200);
    for (const path of [`/databases/${db}/classes/Person/history`, `/databases/${db}/instances/ada/history`, `/databases/${db}/instances/ada/at/1`]) {
      const res = await send('GET', path);
      expect([path, res.status, res.body.code]).toEqual([path, 404, 'DATABASE_NOT_FOUND']);
    }
    await refusedAndNothingStored('PUT', `/databases/${db}/classes/Person`, { label: 'Zombie' }, 404, 'DATABASE_NOT_FOUND');
    await refusedAndNothingStored('PUT', `/databases/${db}/classes/Person/instances/ada`, { properties: { name: 'Zombie' } }, 404, 'DATABASE_NOT_FOUND');
    await refusedAndNothingStored('DELETE', `/databases/${db}/classes/Person/instances/ada`, undefined, 404, 'DATABASE_NOT_FOUND');
    await refusedAndNothingStored('DELETE', `/databases/${db}/classes/Person?force=true`, undefined, 404, 'DATABASE_NOT_FOUND');
  });

  test('re-created: the old class and instance are unreachable, writes on them are refused and store nothing', async () => {
    const created = await send('POST', '/databases', { name: db, description: 'second life' });
    expect(created.status).toBe(201);
    expect(created.body.events[0]).toMatchObject({ aggregate_id: db, version: 3 });
    ledgerBefore = (await p.ledgerRows()).length;

    expect((await send('GET', `/databases/${db}/classes/Person`)).status).toBe(404);
    expect((await send('GET', `/databases/${db}/classes`)).body.items).toEqual([]);
    expect((await send('GET', `/databases/${db}/instances/ada`)).status).toBe(404);
    for (const [path, code] of [
      [`/databases/${db}/classes/Person/history`, 'CLASS_NOT_FOUND'],
      [`/databases/${db}/instances/ada/history`, 'INSTANCE_NOT_FOUND'],
      [`/databases/${db}/instances/ada/at/1`, 'VERSION_NOT_FOUND'],
    ]) {
      const res = await send('GET', path);
      expect([path, res.status, res.body.code]).toEqual([path, 404, code]);
    }

    await refusedAndNothingStored('PUT', `/databases/${db}/classes/Person`, { label: 'Zombie' }, 404, 'CLASS_NOT_FOUND');
    await refusedAndNothingStored('PUT', `/databases/${db}/classes/Person/instances/ada`, { properties: { name: 'Zombie' } }, 404, 'INSTANCE_NOT_FOUND');
    await refusedAndNothingStored('DELETE', `/databases/${db}/classes/Person/instances/ada`, undefined, 404, 'INSTANCE_NOT_FOUND');
    await refusedAndNothingStored('DELETE', `/databases/${db}/classes/Person?force=true`, undefined, 404, 'CLASS_NOT_FOUND');
    expect((await send('GET', `/databases/${db}/classes/Person`)).status).toBe(404);
    expect((await send('GET', `/databases/${db}/instances/ada`)).status).toBe(404);
    expect(await p.ledgerRows('aggregate_id = ANY($1)', [[`${db}:Person`, `${db}:ada`]])).toHaveLength(3);
    expect((await p.ledgerRows()).length).toBe(ledgerBefore);
  });

  test('re-created: the class and the instance are created again on fresh streams (incarnation 3)', async () => {
    const cls = await send('POST', `/databases/${db}/classes`, person('Human'));
    expect([cls.status, cls.body.code]).toEqual([201, undefined]);
    const [classEvent] = cls.body.events;
    expect(classEvent).toMatchObject({ event_type: 'ONTOLOGY_CLASS_CREATED', aggregate_id: `${db}@3:Person`, version: 1 });

    const inst = await send('POST', `/databases/${db}/classes/Person/instances`, { id: 'ada', properties: { name: 'Ada II' } });
    expect(inst.status).toBe(201);
    const [instanceEvent] = inst.body.events;
    expect(instanceEvent).toMatchObject({ event_type: 'INSTANCE_CREATED', aggregate_id: `${db}@3:ada`, version: 1 });

    // S3: new streams of one event each; the old ones are kept as they were.
    expect(await indexOf('ontology_class', `${db}@3:Person`)).toHaveLength(1);
    expect(await indexOf('instance', `${db}@3:ada`)).toHaveLength(1);
    expect(await indexOf('ontology_class', `${db}:Person`)).toHaveLength(1);
    expect(await indexOf('instance', `${db}:ada`)).toHaveLength(2);
    // Ledger and Kafka: keyed by the new stream ids, delivered.
    expect(await ledgerOf(`${db}@3:Person`)).toEqual([['ONTOLOGY_CLASS_CREATED', 1, 'delivered']]);
    expect(await ledgerOf(`${db}@3:ada`)).toEqual([['INSTANCE_CREATED', 1, 'delivered']]);
    await eventually(
      async () => kafkaTypes(`${db}@3:ada`),
      (t) => t.length === 1,
    );
    const [msg] = p.messagesFor(`${db}@3:ada`);
    expect(msg.value.payload).toMatchObject({ aggregate_id: `${db}@3:ada`, payload: { db_name: db, db_incarnation: 3 } });

    // Read models, history and time travel show the new life only.
    expect((await send('GET', `/databases/${db}/classes/Person`)).body).toMatchObject({ label: 'Human', version: 1 });
    expect((await send('GET', `/databases/${db}/instances/ada`)).body).toMatchObject({ properties: { name: 'Ada II' }, version: 1 });
    const history = await send('GET', `/databases/${db}/instances/ada/history`);
    expect(history.body.items.map((e: any) => [e.event_type, e.aggregate_id, e.payload.db_incarnation])).toEqual([['INSTANCE_CREATED', `${db}@3:ada`, 3]]);
    expect((await send('GET', `/databases/${db}/classes/Person/history`)).body.items).toHaveLength(1);
    expect((await send('GET', `/databases/${db}/instances/ada/at/1`)).body).toMatchObject({ version: 1, instance: { properties: { name: 'Ada II' } } });
    expect((await send('GET', `/databases/${db}/instances/ada/at/2`)).status).toBe(404);
    // The database's own stream is the record of its lives.
    expect((await send('GET', `/databases/${db}/history`)).body.items.map((e: any) => e.event_type)).toEqual(['DATABASE_CREATED', 'DATABASE_DELETED', 'DATABASE_CREATED']);
  });

  test('an event of the dead life found by the reconciliation is recorded and delivered, but never projected', async () => {
    // What a workflow of the first life that died after its append leaves behind.
    const infra = p.api.infra;
    const draft = {
      event_type: 'INSTANCE_UPDATED',
      aggregate_type: 'instance',
      aggregate_id: `${db}:ada`,
      payload: { db_name: db, changes: { properties: { name: 'Ghost' } }, instance: { id: 'ada', class_id: 'Person', properties: { name: 'Ghost' }, relationships: {} } },
    };
    const ghost = envelopeOf<unknown>(draft, { commandId: randomUUID(), position: 0, version: 3, occurredAt: new Date().toISOString(), actor: 'test', storageMode: 's3_only' });
    await infra.s3Store.append({ aggregate_type: 'instance', aggregate_id: `${db}:ada` }, 2, [ghost]);

    const result = await p.client.workflow.execute('reconcileDeliveries', { taskQueue: p.taskQueue, workflowId: `reconcile-${randomUUID()}`, args: [{ grace_seconds: 0 }] });
    expect(result).toMatchObject({ recorded: 1, dropped: 1 });
    expect(await ledgerOf(`${db}:ada`)).toEqual([
      ['INSTANCE_CREATED', 1, 'delivered'],
      ['INSTANCE_UPDATED', 2, 'delivered'],
      ['INSTANCE_UPDATED', 3, 'delivered'],
    ]);
    await eventually(
      async () => kafkaTypes(`${db}:ada`),
      (t) => t.length === 3,
    );
    expect((await send('GET', `/databases/${db}/instances/ada`)).body).toMatchObject({ properties: { name: 'Ada II' }, version: 1 });
    expect((await send('GET', `/databases/${db}/instances/ada/history`)).body.items).toHaveLength(1);
  });

  test('a rebuild from S3 equals the live read models and holds the second life only', async () => {
    const target = `${p.api.infra.readModelSchema}_rebuild`;
    const outcome = await p.client.workflow.execute('rebuildReadModels', { taskQueue: p.taskQueue, workflowId: `rebuild-${target}`, args: [{ target_schema: target, chunk_size: 3 }] });
    expect(outcome).toMatchObject({ equal: true, differences: [] });
    const pool = p.api.infra.pool;
    const { rows } = await pool.query(`SELECT instance_id, properties, version FROM ${target}.instances WHERE db_name = $1`, [db]);
    expect(rows).toEqual([{ instance_id: 'ada', properties: { name: 'Ada II' }, version: 1 }]);
    await p.api.infra.ownerPool.query(`DROP SCHEMA ${target} CASCADE`);
  });
});

describe('read models still on the deleted life', () => {
  const db = 'lagging';

  test('a command of the new life waits for them (RETRYING READ_MODELS_BEHIND) instead of deciding against the deleted life', async () => {
    const pool = p.api.infra.pool;
    const rm = p.api.infra.readModelSchema;
    expect((await send('POST', '/databases', { name: db })).status).toBe(201);
    expect((await send('POST', `/databases/${db}/classes`, { id: 'Ghost', label: 'Ghost', properties: [], relationships: [] })).status).toBe(201);
    const ghostRow = (await pool.query(`SELECT * FROM ${rm}.classes WHERE db_name = $1`, [db])).rows[0];
    expect((await send('DELETE', `/databases/${db}`)).status).toBe(200);
    expect((await send('POST', '/databases', { name: db })).status).toBe(201);

    // The read models as they were before the deletion and the re-creation were projected.
    await pool.query(`UPDATE ${rm}.databases SET status = 'active', version = 1, incarnation = 1, deleted_at = NULL WHERE name = $1`, [db]);
    await pool.query(`UPDATE ${rm}.stream_positions SET version = 1 WHERE aggregate_type = 'database' AND aggregate_id = $1`, [db]);
    await pool.query(
      `INSERT INTO ${rm}.classes (db_name, class_id, label, description, parent_class, abstract, definition, version, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        ghostRow.db_name,
        ghostRow.class_id,
        ghostRow.label,
        ghostRow.description,
        ghostRow.parent_class,
        ghostRow.abstract,
        ghostRow.definition,
        ghostRow.version,
        ghostRow.created_at,
        ghostRow.updated_at,
      ],
    );
    const keys = await allIndexKeys();
    const rows = (await p.ledgerRows()).length;

    const res = await fetch(`${p.url}/databases/${db}/classes/Ghost/instances`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'wait=2', ...p.auth },
      body: JSON.stringify({ id: 'boo', properties: {} }),
    });
    expect(res.status).toBe(202);
    const { command_id } = (await res.json()) as { command_id: string };
    const retrying = await eventually(
      async () => (await send('GET', `/commands/${command_id}`)).body,
      (v) => v.status === 'RETRYING',
    );
    expect(retrying.retry).toMatchObject({ code: 'READ_MODELS_BEHIND', last_failure: expect.stringContaining('have not reached the database life') });
    expect(await allIndexKeys()).toEqual(keys);
    expect((await p.ledgerRows()).length).toBe(rows);

    // The database's own projection catches up: the deleted life's class is purged, and the command
    // decides against the new life, where Ghost does not exist.
    const dbEvents = (await p.api.infra.s3Store.readStream({ aggregate_type: 'database', aggregate_id: db })).map((e) => e.envelope);
    await p.api.infra.projector.apply(dbEvents);
    const failed = await eventually(
      async () => (await send('GET', `/commands/${command_id}`)).body,
      (v) => v.status === 'FAILED',
      30_000,
    );
    expect(failed.error).toMatchObject({ code: 'CLASS_NOT_FOUND' });
    expect(await allIndexKeys()).toEqual(keys);
    expect((await p.ledgerRows()).length).toBe(rows);
    expect((await send('GET', `/databases/${db}/instances/boo`)).status).toBe(404);
    expect((await send('GET', `/databases/${db}/classes/Ghost`)).status).toBe(404);
  });
});

describe('the class in an instance path', () => {
  const db = 'paths';

  beforeAll(async () => {
    expect((await send('POST', '/databases', { name: db })).status).toBe(201);
    expect((await send('POST', `/databases/${db}/classes`, person('Person'))).status).toBe(201);
    expect((await send('POST', `/databases/${db}/classes`, { id: 'Company', label: 'Company', properties: [], relationships: [] })).status).toBe(201);
    expect((await send('POST', `/databases/${db}/classes/Person/instances`, { id: 'ada', properties: { name: 'Ada' } })).status).toBe(201);
  });

  test.each([
    ['PUT', 'Company', { properties: { name: 'Changed' } }],
    ['DELETE', 'Company', undefined],
    ['PUT', 'Nobody', { properties: { name: 'Changed' } }],
    ['DELETE', 'Nobody', undefined],
  ])('%s through class %s: 404 INSTANCE_NOT_FOUND, nothing stored', async (method, classId, body) => {
    const res = await refusedAndNothingStored(method, `/databases/${db}/classes/${classId}/instances/ada`, body, 404, 'INSTANCE_NOT_FOUND');
    expect(res.body.detail).toContain(`not of class '${classId}'`);
    expect(await ledgerOf(`${db}:ada`)).toEqual([['INSTANCE_CREATED', 1, 'delivered']]);
    expect(await indexOf('instance', `${db}:ada`)).toHaveLength(1);
    expect((await send('GET', `/databases/${db}/instances/ada`)).body).toMatchObject({ class_id: 'Person', properties: { name: 'Ada' }, version: 1 });
  });

  test('through its own class, PUT and DELETE work', async () => {
    expect((await send('PUT', `/databases/${db}/classes/Person/instances/ada`, { properties: { name: 'Ada L.' } })).status).toBe(200);
    expect((await send('DELETE', `/databases/${db}/classes/Person/instances/ada`)).status).toBe(200);
    expect(await ledgerOf(`${db}:ada`)).toEqual([
      ['INSTANCE_CREATED', 1, 'delivered'],
      ['INSTANCE_UPDATED', 2, 'delivered'],
      ['INSTANCE_DELETED', 3, 'delivered'],
    ]);
    await eventually(
      async () => kafkaTypes(`${db}:ada`),
      (t) => t.join() === 'INSTANCE_CREATED,INSTANCE_UPDATED,INSTANCE_DELETED',
    );
    expect((await send('GET', `/databases/${db}/instances/ada`)).status).toBe(404);
  });
});

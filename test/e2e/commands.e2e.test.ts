/**
 * Every command type through the real pipeline: HTTP -> Temporal -> S3 -> ledger -> Kafka ->
 * read models, checked on each of them, not only on the HTTP answer.
 */
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually, testConfig } from '../support/env';
import { sendJson } from '../support/http';

let p: Pipeline;
beforeAll(async () => {
  p = await startPipeline('e2e-cmd');
});
afterAll(async () => {
  await p?.close();
});

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, path, body, headers);

const wait = { prefer: 'wait=30' };
const db = 'library';

const personClass = {
  id: 'Person',
  label: 'Person',
  properties: [
    { name: 'name', type: 'string', required: true },
    { name: 'born', type: 'date' },
    { name: 'tags', type: 'array', items: 'string' },
  ],
  relationships: [{ predicate: 'knows', target_class: 'Person', cardinality: 'n:m' }],
};

/** The stored events of one stream in S3, by their index keys. */
async function indexKeys(aggregateType: string): Promise<string[]> {
  return (await p.s3Keys(`indexes/by-aggregate/${aggregateType}/`)).sort();
}

test('CREATE_DATABASE: 201 with the event in S3, one ledger row delivered, one Kafka message, the read model', async () => {
  const res = await send('POST', '/databases', { name: db, description: 'books and people' }, wait);
  expect(res.status).toBe(201);
  expect(res.body.status).toBe('COMPLETED');
  const [event] = res.body.events;
  expect(event).toMatchObject({ event_type: 'DATABASE_CREATED', aggregate_type: 'database', aggregate_id: db, version: 1 });

  // S3: the index entry at version 1 and the body under events/.
  expect(await indexKeys('database')).toHaveLength(1);
  const bodies = (await p.s3Keys('events/')).filter((k) => k.endsWith(`${event.event_id}.json`));
  expect(bodies).toHaveLength(1);
  expect(event.s3.key.endsWith(bodies[0])).toBe(true);

  // Ledger: exactly one row, delivered with a Kafka position.
  const rows = await p.ledgerRows('event_id = $1', [event.event_id]);
  expect(rows).toHaveLength(1);
  expect(rows[0].status).toBe('delivered');
  expect(rows[0].kafka_offset).not.toBeNull();

  // Kafka: keyed by aggregate id, with the headers and the S3 reference.
  await eventually(
    async () => p.messagesFor(db).length,
    (n) => n >= 1,
  );
  const [msg] = p.messagesFor(db);
  expect(msg.headers).toMatchObject({ 'event-id': event.event_id, 'event-type': 'DATABASE_CREATED', 'aggregate-version': '1' });
  expect(msg.value.message_type).toBe('EVENT');
  expect(msg.value.s3_reference).toMatchObject({ key: event.s3.key, event_id: event.event_id });

  // Read model.
  const read = await send('GET', `/databases/${db}`);
  expect(read.status).toBe(200);
  expect(read.body).toMatchObject({ name: db, description: 'books and people', version: 1 });
});

test('classes: create, update (partial -> full definition), read with schema', async () => {
  const created = await send('POST', `/databases/${db}/classes`, personClass, wait);
  expect(created.status).toBe(201);
  const updated = await send('PUT', `/databases/${db}/classes/Person`, { label: 'Human' }, wait);
  expect(updated.status).toBe(200);
  expect(updated.body.result.version).toBe(2);

  const cls = await send('GET', `/databases/${db}/classes/Person`);
  expect(cls.body).toMatchObject({ id: 'Person', label: 'Human', version: 2 });
  expect(JSON.stringify(cls.body.definition)).toContain('knows');
  expect(await indexKeys('ontology_class')).toHaveLength(2);
  await eventually(
    async () => p.messagesFor(`${db}:Person`).map((m) => m.headers['aggregate-version']),
    (v) => v.join() === '1,2',
  );
});

test('instances: create, update, relationships, delete; S3, ledger, Kafka and read models agree', async () => {
  const ada = await send('POST', `/databases/${db}/classes/Person/instances`, { id: 'ada', properties: { name: 'Ada', born: '1815-12-10' } }, wait);
  expect(ada.status).toBe(201);
  const alan = await send('POST', `/databases/${db}/classes/Person/instances`, { properties: { name: 'Alan', tags: ['math'] }, relationships: { knows: ['ada'] } }, wait);
  expect(alan.status).toBe(201);
  const alanId = alan.body.result.aggregate_id.split(':')[1];
  expect(alanId).toMatch(/^[0-9a-f-]{36}$/);

  const upd = await send('PUT', `/databases/${db}/classes/Person/instances/ada`, { properties: { name: 'Ada Lovelace' } }, { ...wait, 'if-match': '1' });
  expect(upd.status).toBe(200);
  expect(upd.body.result.version).toBe(2);

  const one = await send('GET', `/databases/${db}/instances/ada`);
  expect(one.body).toMatchObject({ id: 'ada', class_id: 'Person', version: 2, properties: { name: 'Ada Lovelace', born: '1815-12-10' } });
  const rel = await send('GET', `/databases/${db}/instances/ada/relationships`);
  expect(rel.body.incoming).toEqual([{ from_id: alanId, predicate: 'knows', to_id: 'ada' }]);
  // Search on OpenSearch is near real time: a write shows within the index's refresh interval (1 s).
  const found = await eventually(
    () => send('GET', `/databases/${db}/search?q=lovelace`),
    (r) => (r.body.items ?? r.body).length > 0,
    10_000,
    200,
  );
  expect(found.body.items ?? found.body).toEqual(expect.arrayContaining([expect.objectContaining({ id: 'ada' })]));

  // History from S3 and time travel.
  const history = await send('GET', `/databases/${db}/instances/ada/history`);
  expect(history.body.items.map((e: any) => e.event_type)).toEqual(['INSTANCE_CREATED', 'INSTANCE_UPDATED']);
  // ... a page at a time, read from S3 by version range
  const page1 = await send('GET', `/databases/${db}/instances/ada/history?limit=1`);
  expect(page1.body.items.map((e: any) => e.aggregate_version)).toEqual([1]);
  const page2 = await send('GET', `/databases/${db}/instances/ada/history?limit=1&cursor=${page1.body.next_cursor}`);
  expect(page2.body).toEqual({ items: [expect.objectContaining({ aggregate_version: 2 })], next_cursor: null });
  const dbs = await send('GET', `/databases?limit=1000`);
  expect(dbs.body).toEqual({ items: expect.arrayContaining([expect.objectContaining({ name: db })]), next_cursor: null });
  const v1 = await send('GET', `/databases/${db}/instances/ada/at/1`);
  expect(JSON.stringify(v1.body)).toContain('"Ada"');
  expect(JSON.stringify(v1.body)).not.toContain('Lovelace');

  const del = await send('DELETE', `/databases/${db}/classes/Person/instances/${alanId}`, undefined, wait);
  expect(del.status).toBe(200);
  expect((await send('GET', `/databases/${db}/instances/${alanId}`)).status).toBe(404);
  expect((await send('GET', `/databases/${db}/instances/ada/relationships`)).body.incoming).toEqual([]);

  // Ledger and Kafka: one row and (at least) one message per event, in version order per stream.
  const rows = await p.ledgerRows(`aggregate_id = $1`, [`${db}:ada`]);
  expect(rows.map((r) => [r.aggregate_version, r.status])).toEqual([
    [1, 'delivered'],
    [2, 'delivered'],
  ]);
  await eventually(
    async () => p.messagesFor(`${db}:ada`).length,
    (n) => n >= 2,
  );
  expect(p.messagesFor(`${db}:ada`).map((m) => m.headers['aggregate-version'])).toEqual(['1', '2']);
});

test('a business refusal fails the command with its code and stores nothing', async () => {
  const before = { keys: (await p.s3Keys('indexes/')).length, rows: (await p.ledgerRows()).length };
  const res = await send('POST', `/databases/${db}/classes/Person/instances`, { id: 'ada', properties: { name: 'again' } }, wait);
  expect(res.status).toBe(409);
  expect(res.headers.get('content-type')).toContain('application/problem+json');
  expect(res.body.code).toBe('INSTANCE_EXISTS');
  expect((await p.s3Keys('indexes/')).length).toBe(before.keys);
  expect((await p.ledgerRows()).length).toBe(before.rows);

  const status = await send('GET', `/commands/${res.body.command_id ?? res.body.instance?.split('/').pop()}`);
  if (status.status === 200) expect(status.body).toMatchObject({ status: 'FAILED', error: { code: 'INSTANCE_EXISTS' } });
});

test('expected version mismatch (If-Match) is a 409 and writes nothing', async () => {
  const res = await send('PUT', `/databases/${db}/classes/Person/instances/ada`, { properties: { name: 'stale' } }, { ...wait, 'if-match': '1' });
  expect(res.status).toBe(409);
  expect(res.body.code).toBe('VERSION_CONFLICT');
  expect((await send('GET', `/databases/${db}/instances/ada`)).body.properties.name).toBe('Ada Lovelace');
});

test('a resubmitted command (same Idempotency-Key) returns the first command and never runs twice', async () => {
  const body = { id: 'grace', properties: { name: 'Grace' } };
  const key = { 'idempotency-key': `grace-${Date.now()}` };
  const first = await send('POST', `/databases/${db}/classes/Person/instances`, body, { ...key, ...wait });
  const second = await send('POST', `/databases/${db}/classes/Person/instances`, body, { ...key, ...wait });
  expect(first.status).toBe(201);
  expect([200, 201]).toContain(second.status);
  expect(second.body.command_id).toBe(first.body.command_id);
  expect(second.body.result.events[0].event_id).toBe(first.body.result.events[0].event_id);
  expect(await p.ledgerRows('aggregate_id = $1', [`${db}:grace`])).toHaveLength(1);

  const other = await send('POST', `/databases/${db}/classes/Person/instances`, { ...body, properties: { name: 'Other' } }, key);
  expect(other.status).toBe(422);
  expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');

  const runs = await p.client.workflow.count(`WorkflowId = 'command-${first.body.command_id}'`);
  expect(runs.count).toBe(1);
});

test('search attributes let the CLI and Web UI filter commands', async () => {
  const q = `CommandType = 'CREATE_INSTANCE' AND DatabaseName = '${db}' AND TaskQueue = '${p.taskQueue}'`;
  const n = await eventually(
    async () => (await p.client.workflow.count(q)).count,
    (c) => c >= 3,
    20_000,
  );
  expect(n).toBeGreaterThanOrEqual(3);
});

test('health: live always, ready checks Temporal, S3, PostgreSQL and Kafka', async () => {
  const live = await fetch(`${p.api.url}/health/live`);
  expect(live.status).toBe(200);
  const ready = await fetch(`${p.api.url}/health/ready`);
  expect(ready.status).toBe(200);
  const body = (await ready.json()) as { status: string; checks: Record<string, unknown> };
  expect(body.status).toBe('ok');
  // OpenSearch is a dependency only where it is the search engine (SEARCH_ENGINE=postgres leaves it out).
  const search = testConfig.SEARCH_ENGINE === 'opensearch' ? ['opensearch'] : [];
  // 'api' fails once the process is stopping (SIGTERM), so a load balancer stops sending first.
  expect(Object.keys(body.checks).sort()).toEqual(['api', 'kafka', ...search, 'postgres', 's3', 'temporal']);
});

test('traversal follows relationships both ways, bounded by depth', async () => {
  for (const [id, knows] of [
    ['t1', []],
    ['t2', ['t1']],
    ['t3', ['t2']],
  ] as const) {
    expect((await send('POST', `/databases/${db}/classes/Person/instances`, { id, properties: { name: id }, relationships: { knows } }, wait)).status).toBe(201);
  }
  const one = await send('GET', `/databases/${db}/instances/t3/relationships?depth=1`);
  const two = await send('GET', `/databases/${db}/instances/t3/relationships?depth=2`);
  const ids = (r: any) => r.body.nodes.map((n: any) => n.id).sort();
  expect(ids(one)).toEqual(['t2', 't3']);
  expect(ids(two)).toEqual(['t1', 't2', 't3']);
});

test('DELETE_ONTOLOGY_CLASS is refused while instances exist, forced deletes; DELETE_DATABASE removes it from the read models', async () => {
  const eventsOf = async (aggregateId: string) => (await p.ledgerRows('aggregate_id = $1', [aggregateId])).map((r) => [r.event_type, r.status]);

  const refused = await send('DELETE', `/databases/${db}/classes/Person`, undefined, wait);
  expect(refused.status).toBe(409);
  expect(refused.body.code).toBe('CLASS_HAS_INSTANCES');
  expect(await eventsOf(`${db}:Person`)).toEqual([
    ['ONTOLOGY_CLASS_CREATED', 'delivered'],
    ['ONTOLOGY_CLASS_UPDATED', 'delivered'],
  ]);

  const forced = await send('DELETE', `/databases/${db}/classes/Person?force=true`, undefined, wait);
  expect(forced.status).toBe(200);
  expect(forced.body.result).toMatchObject({ version: 3, events: [expect.objectContaining({ event_type: 'ONTOLOGY_CLASS_DELETED' })] });
  expect((await send('GET', `/databases/${db}/classes/Person`)).status).toBe(404);
  expect(await indexKeys('ontology_class')).toHaveLength(3);
  await eventually(
    async () => p.messagesFor(`${db}:Person`).map((m) => m.headers['event-type']),
    (t) => t.includes('ONTOLOGY_CLASS_DELETED'),
  );

  const gone = await send('DELETE', `/databases/${db}`, undefined, wait);
  expect(gone.status).toBe(200);
  expect(await eventsOf(db)).toEqual([
    ['DATABASE_CREATED', 'delivered'],
    ['DATABASE_DELETED', 'delivered'],
  ]);
  expect((await send('GET', `/databases/${db}`)).status).toBe(404);
  expect((await send('GET', '/databases')).body.items?.map((d: any) => d.name) ?? []).not.toContain(db);
  await eventually(
    async () => p.messagesFor(db).map((m) => m.headers['event-type']),
    (t) => t.join() === 'DATABASE_CREATED,DATABASE_DELETED',
  );
  // The history in S3 keeps everything: deletion is an event, not an erasure.
  expect(await indexKeys('database')).toHaveLength(2);
});

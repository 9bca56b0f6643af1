import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { inMemoryPorts, type InMemoryPorts } from '../support/in-memory-ports';

const silent = pino({ level: 'silent' });
let ports: InMemoryPorts;
let app: ReturnType<typeof createApp>;

beforeEach(() => {
  ports = inMemoryPorts({ maxWaitMs: 5000 });
  app = createApp(ports, silent);
});

const personClass = {
  id: 'Person',
  label: 'Person',
  properties: [{ name: 'name', type: 'string', required: true }],
  relationships: [{ predicate: 'knows', target_class: 'Person', cardinality: 'n:m' }],
};

describe('write routes submit the right command', () => {
  test('POST /databases -> CREATE_DATABASE, 202 with Location', async () => {
    const res = await request(app).post('/api/v1/databases').send({ name: 'crm', description: 'customers' });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({
      command_id: 'cmd-1',
      status: 'PENDING',
      status_url: '/api/v1/commands/cmd-1',
      resource_url: '/api/v1/databases/crm',
    });
    expect(res.headers.location).toBe('/api/v1/commands/cmd-1');
    expect(ports.commands.submitted).toEqual([{ command_type: 'CREATE_DATABASE', payload: { name: 'crm', description: 'customers' }, actor: 'anonymous' }]);
  });

  test('DELETE /databases/{db} -> DELETE_DATABASE', async () => {
    const res = await request(app).delete('/api/v1/databases/crm');
    expect(res.status).toBe(202);
    expect(ports.commands.submitted).toEqual([{ command_type: 'DELETE_DATABASE', payload: { name: 'crm' }, actor: 'anonymous' }]);
  });

  test('POST classes -> CREATE_ONTOLOGY_CLASS with defaults applied', async () => {
    const res = await request(app).post('/api/v1/databases/crm/classes').send(personClass);
    expect(res.status).toBe(202);
    expect(ports.commands.submitted[0]).toEqual({
      command_type: 'CREATE_ONTOLOGY_CLASS',
      db_name: 'crm',
      payload: {
        ...personClass,
        abstract: false,
        properties: [{ name: 'name', type: 'string', required: true }],
      },
      actor: 'anonymous',
    });
  });

  test('PUT class -> UPDATE_ONTOLOGY_CLASS with the id from the path', async () => {
    const res = await request(app).put('/api/v1/databases/crm/classes/Person').send({ label: 'Human' });
    expect(res.status).toBe(202);
    expect(ports.commands.submitted[0]).toMatchObject({
      command_type: 'UPDATE_ONTOLOGY_CLASS',
      db_name: 'crm',
      payload: { id: 'Person', label: 'Human' },
    });
  });

  test('PUT class accepts a body id equal to the path, refuses another one', async () => {
    expect((await request(app).put('/api/v1/databases/crm/classes/Person').send({ id: 'Person', abstract: true })).status).toBe(202);
    const res = await request(app).put('/api/v1/databases/crm/classes/Person').send({ id: 'Other', abstract: true });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors).toEqual([{ path: 'id', message: expect.any(String) }]);
    expect(ports.commands.submitted).toHaveLength(1);
  });

  test('DELETE class -> DELETE_ONTOLOGY_CLASS, force from the query', async () => {
    await request(app).delete('/api/v1/databases/crm/classes/Person');
    await request(app).delete('/api/v1/databases/crm/classes/Person?force=true');
    expect(ports.commands.submitted.map((c) => c.payload)).toEqual([
      { id: 'Person', force: false },
      { id: 'Person', force: true },
    ]);
    const bad = await request(app).delete('/api/v1/databases/crm/classes/Person?force=yes');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('INVALID_QUERY');
    expect(ports.commands.submitted).toHaveLength(2);
  });

  test('POST instances -> CREATE_INSTANCE with a generated UUID and class_id from the path', async () => {
    const res = await request(app)
      .post('/api/v1/databases/crm/classes/Person/instances')
      .send({ properties: { name: 'Ada' }, relationships: { knows: ['bob'] } });
    expect(res.status).toBe(202);
    const cmd = ports.commands.submitted[0];
    expect(cmd).toMatchObject({
      command_type: 'CREATE_INSTANCE',
      db_name: 'crm',
      payload: { class_id: 'Person', properties: { name: 'Ada' }, relationships: { knows: ['bob'] } },
    });
    const id = (cmd.payload as { id: string }).id;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(res.body.resource_url).toBe(`/api/v1/databases/crm/instances/${id}`);
  });

  test('POST instances keeps a given id; defaults properties/relationships', async () => {
    await request(app).post('/api/v1/databases/crm/classes/Person/instances').send({ id: 'ada' });
    expect(ports.commands.submitted[0].payload).toEqual({ id: 'ada', class_id: 'Person', properties: {}, relationships: {} });
  });

  test('POST instances refuses a body class_id that differs from the path', async () => {
    const res = await request(app).post('/api/v1/databases/crm/classes/Person/instances').send({ id: 'ada', class_id: 'Robot' });
    expect(res.status).toBe(422);
    expect(ports.commands.submitted).toHaveLength(0);
  });

  test('PUT instance -> UPDATE_INSTANCE, DELETE instance -> DELETE_INSTANCE', async () => {
    await request(app)
      .put('/api/v1/databases/crm/classes/Person/instances/ada')
      .send({ properties: { name: 'Ada L.' }, relationships: { knows: null } });
    await request(app).delete('/api/v1/databases/crm/classes/Person/instances/ada');
    expect(ports.commands.submitted).toEqual([
      {
        command_type: 'UPDATE_INSTANCE',
        db_name: 'crm',
        payload: { id: 'ada', class_id: 'Person', properties: { name: 'Ada L.' }, relationships: { knows: null } },
        actor: 'anonymous',
      },
      { command_type: 'DELETE_INSTANCE', db_name: 'crm', payload: { id: 'ada', class_id: 'Person' }, actor: 'anonymous' },
    ]);
  });

  test('PUT instance: the class travels from the path; a different class_id in the body is refused, nothing submitted', async () => {
    const same = await request(app)
      .put('/api/v1/databases/crm/classes/Person/instances/ada')
      .send({ class_id: 'Person', properties: { name: 'A' } });
    expect(same.status).toBe(202);
    const other = await request(app)
      .put('/api/v1/databases/crm/classes/Person/instances/ada')
      .send({ class_id: 'Company', properties: { name: 'A' } });
    expect([other.status, other.body.code, other.body.errors]).toEqual([422, 'VALIDATION_FAILED', [{ path: 'class_id', message: "must equal 'Person' (from the path) or be absent" }]]);
    expect(ports.commands.submitted).toHaveLength(1);
  });

  test('POST instances:bulk -> BULK_CREATE_INSTANCES (the escaped colon route)', async () => {
    const res = await request(app)
      .post('/api/v1/databases/crm/classes/Person/instances:bulk')
      .send({ instances: [{ id: 'a', properties: { name: 'A' } }, { properties: { name: 'B' } }] });
    expect(res.status).toBe(202);
    const cmd = ports.commands.submitted[0];
    expect(cmd.command_type).toBe('BULK_CREATE_INSTANCES');
    expect(cmd.db_name).toBe('crm');
    const payload = cmd.payload as { class_id: string; instances: Array<{ id: string; properties: unknown; relationships: unknown }> };
    expect(payload.class_id).toBe('Person');
    expect(payload.instances[0]).toEqual({ id: 'a', properties: { name: 'A' }, relationships: {} });
    expect(payload.instances[1].id).toMatch(/^[0-9a-f-]{36}$/);
    // no route confusion with POST .../instances
    expect(ports.commands.submitted).toHaveLength(1);
  });

  test('bulk: duplicate ids and an empty list are reported as 422 with paths', async () => {
    const dup = await request(app)
      .post('/api/v1/databases/crm/classes/Person/instances:bulk')
      .send({ instances: [{ id: 'a' }, { id: 'a' }] });
    const empty = await request(app).post('/api/v1/databases/crm/classes/Person/instances:bulk').send({ instances: [] });
    expect(empty.status).toBe(422);
    expect(empty.body.errors[0].path).toBe('instances');
    expect(dup.status).toBe(422);
    expect(dup.body.errors).toEqual([{ path: 'instances[1].id', message: "duplicate instance id 'a'" }]);
    expect(ports.commands.submitted).toHaveLength(0);
  });

  test('X-Actor is passed on and validated', async () => {
    await request(app).delete('/api/v1/databases/crm').set('X-Actor', 'alice@example.com');
    expect(ports.commands.submitted[0].actor).toBe('alice@example.com');
    const res = await request(app).delete('/api/v1/databases/crm').set('X-Actor', 'bad actor<script>');
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('INVALID_HEADER');
    expect(ports.commands.submitted).toHaveLength(1);
  });
});

describe('Idempotency-Key', () => {
  test('is passed to submit', async () => {
    await request(app).post('/api/v1/databases').set('Idempotency-Key', 'key-1').send({ name: 'crm' });
    expect(ports.commands.submitted[0].idempotency_key).toBe('key-1');
  });

  test.each([
    ['empty', ''],
    ['too long', 'k'.repeat(201)],
    ['with a space', 'a b'],
    ['non-ASCII', 'clé'],
  ])('is refused when %s', async (_what, key) => {
    const res = await request(app).post('/api/v1/databases').set('Idempotency-Key', key).send({ name: 'crm' });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('INVALID_HEADER');
    expect(ports.commands.submitted).toHaveLength(0);
  });

  test('200 visible characters are accepted', async () => {
    const res = await request(app).post('/api/v1/databases').set('Idempotency-Key', '~'.repeat(200)).send({ name: 'crm' });
    expect(res.status).toBe(202);
  });

  test('a resubmission describes the first command: 202 while it runs, 200 once completed', async () => {
    const first = await request(app).post('/api/v1/databases').set('Idempotency-Key', 'k').send({ name: 'crm' });
    const again = await request(app).post('/api/v1/databases').set('Idempotency-Key', 'k').send({ name: 'crm' });
    expect(again.status).toBe(202);
    expect(again.body.command_id).toBe(first.body.command_id);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(ports.commands.statusCalls).toEqual([first.body.command_id]);

    ports.commands.complete(first.body.command_id, { status: 'PROCESSING' });
    const processing = await request(app).post('/api/v1/databases').set('Idempotency-Key', 'k').send({ name: 'crm' });
    expect(processing.status).toBe(202);
    expect(processing.body.status).toBe('PROCESSING');

    ports.commands.complete(first.body.command_id);
    const done = await request(app).post('/api/v1/databases').set('Idempotency-Key', 'k').send({ name: 'crm' });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ command_id: first.body.command_id, status: 'COMPLETED' });
  });

  test('a resubmission of a failed command answers its business error', async () => {
    const first = await request(app).post('/api/v1/databases').set('Idempotency-Key', 'k').send({ name: 'crm' });
    ports.commands.fail(first.body.command_id, { code: 'DATABASE_EXISTS', message: 'exists', details: [] });
    const again = await request(app).post('/api/v1/databases').set('Idempotency-Key', 'k').send({ name: 'crm' });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('DATABASE_EXISTS');
  });

  test('instance ids left out are derived from the key, so a retry carries the same payload', async () => {
    const send = () =>
      request(app)
        .post('/api/v1/databases/crm/classes/Person/instances')
        .set('Idempotency-Key', 'k-7')
        .send({ properties: { name: 'A' } });
    await send();
    await send();
    const [a, b] = ports.commands.submitted.map((c) => (c.payload as { id: string }).id);
    expect(a).toBe(b);
    await request(app)
      .post('/api/v1/databases/crm/classes/Person/instances')
      .set('Idempotency-Key', 'k-8')
      .send({ properties: { name: 'A' } });
    expect((ports.commands.submitted[2].payload as { id: string }).id).not.toBe(a);
  });
});

describe('If-Match', () => {
  test.each([
    ['3', 3],
    ['"3"', 3],
    ['0', 0],
    [' "12" ', 12],
  ])('%s -> expected_version %d', async (header, expected) => {
    const res = await request(app).put('/api/v1/databases/crm/classes/Person').set('If-Match', header).send({ label: 'X' });
    expect(res.status).toBe(202);
    expect(ports.commands.submitted[0].expected_version).toBe(expected);
  });

  test.each(['-1', 'abc', '*', 'W/"3"', '1.5', '"3', '99999999999999999999'])('%s is refused with 400', async (header) => {
    const res = await request(app).put('/api/v1/databases/crm/classes/Person').set('If-Match', header).send({ label: 'X' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('INVALID_HEADER');
    expect(ports.commands.submitted).toHaveLength(0);
  });

  test('absent -> no expected_version', async () => {
    await request(app).put('/api/v1/databases/crm/classes/Person').send({ label: 'X' });
    expect(ports.commands.submitted[0]).not.toHaveProperty('expected_version');
  });
});

describe('waiting for the outcome', () => {
  const completed = { aggregate_type: 'database', aggregate_id: 'crm', version: 1, events: [], event_count: 1 };

  test('?wait=true waits up to maxWaitMs; completed create -> 201 with result', async () => {
    ports.commands.onWait = (id) => ports.commands.complete(id, { result: { ...completed, command_id: id, command_type: 'CREATE_DATABASE' } });
    const res = await request(app).post('/api/v1/databases?wait=true').send({ name: 'crm' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ command_id: 'cmd-1', status: 'COMPLETED', result: { aggregate_id: 'crm', version: 1 } });
    expect(res.headers.location).toBe('/api/v1/databases/crm');
    expect(ports.commands.waitCalls).toEqual([{ commandId: 'cmd-1', timeoutMs: 5000, signal: expect.any(AbortSignal) }]);
  });

  test('Prefer: wait=N waits N seconds, capped by maxWaitMs', async () => {
    ports.commands.onWait = (id) => ports.commands.complete(id);
    const res = await request(app).delete('/api/v1/databases/crm').set('Prefer', 'wait=2');
    expect(res.status).toBe(200);
    expect(res.headers['preference-applied']).toBe('wait=2');
    await request(app).delete('/api/v1/databases/crm').set('Prefer', 'respond-async, wait=600');
    expect(ports.commands.waitCalls.map((c) => c.timeoutMs)).toEqual([2000, 5000]);
  });

  test('completed update/delete -> 200', async () => {
    ports.commands.onWait = (id) => ports.commands.complete(id);
    expect((await request(app).put('/api/v1/databases/crm/classes/Person?wait=true').send({ label: 'X' })).status).toBe(200);
    expect((await request(app).delete('/api/v1/databases/crm/classes/Person/instances/a?wait=true')).status).toBe(200);
  });

  test('still running at the bound -> 202 with the current status', async () => {
    ports.commands.onWait = (id) => ports.commands.complete(id, { status: 'RETRYING' });
    const res = await request(app).post('/api/v1/databases?wait=true').send({ name: 'crm' });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ command_id: 'cmd-1', status: 'RETRYING', status_url: '/api/v1/commands/cmd-1' });
    expect(res.headers.location).toBe('/api/v1/commands/cmd-1');
  });

  test.each([
    ['CLASS_NOT_FOUND', 404],
    ['INSTANCE_EXISTS', 409],
    ['ABSTRACT_CLASS', 422],
    ['VALIDATION_FAILED', 422],
    ['INVALID_COMMAND', 400],
    ['IDEMPOTENCY_KEY_REUSED', 422],
  ])('failed with %s -> %d problem', async (code, status) => {
    const details = [{ path: 'properties.age', message: 'must be an integer' }];
    ports.commands.onWait = (id) => ports.commands.fail(id, { code, message: `refused: ${code}`, details });
    const res = await request(app).post('/api/v1/databases/crm/classes/Person/instances?wait=true').send({ id: 'ada' });
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      type: `https://spice-oms.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`,
      status,
      code,
      detail: `refused: ${code}`,
      command_id: 'cmd-1',
      errors: details,
    });
  });

  test('VERSION_CONFLICT -> 409 with the current version', async () => {
    ports.commands.onWait = (id) => ports.commands.fail(id, { code: 'VERSION_CONFLICT', message: 'version conflict on instance/"crm:ada": expected 3, current 5', details: [] });
    const res = await request(app)
      .put('/api/v1/databases/crm/classes/Person/instances/ada?wait=true')
      .set('If-Match', '"3"')
      .send({ properties: { a: 1 } });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ code: 'VERSION_CONFLICT', current_version: 5 });
    expect(res.headers.etag).toBe('"5"');
  });

  test('a non-business failure is a 500 that does not leak the message', async () => {
    ports.commands.onWait = (id) => ports.commands.fail(id, { code: 'S3_DOWN', message: 'secret://internal', details: [] });
    const res = await request(app).post('/api/v1/databases?wait=true').send({ name: 'crm' });
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain('secret');
  });

  test('?wait=false and no Prefer do not wait; a bad ?wait is refused', async () => {
    await request(app).post('/api/v1/databases?wait=false').send({ name: 'crm' });
    expect(ports.commands.waitCalls).toHaveLength(0);
    const res = await request(app).post('/api/v1/databases?wait=maybe').send({ name: 'crm' });
    expect(res.status).toBe(400);
    expect(ports.commands.submitted).toHaveLength(1);
  });

  test('maxWaitMs 0 disables waiting', async () => {
    const p0 = inMemoryPorts({ maxWaitMs: 0 });
    const res = await request(createApp(p0, silent)).post('/api/v1/databases?wait=true').send({ name: 'crm' });
    expect(res.status).toBe(202);
    expect(p0.commands.waitCalls).toHaveLength(0);
  });
});

describe('GET /commands/{id}', () => {
  test('returns the status view', async () => {
    await request(app).post('/api/v1/databases').send({ name: 'crm' });
    const res = await request(app).get('/api/v1/commands/cmd-1');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ command_id: 'cmd-1', command_type: 'CREATE_DATABASE', status: 'PENDING', events: [] });
  });

  test('unknown -> 404 problem', async () => {
    const res = await request(app).get('/api/v1/commands/nope');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'COMMAND_NOT_FOUND', status: 404, instance: '/api/v1/commands/nope' });
  });

  test('a hostile command id -> 400 INVALID_ID without asking the gateway', async () => {
    const res = await request(app).get('/api/v1/commands/..%2Fetc');
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('INVALID_ID');
    expect(ports.commands.statusCalls).toHaveLength(0);
  });
});

import pino from 'pino';
import { Writable } from 'node:stream';
import request from 'supertest';
import type { EventEnvelope } from '../../src/contracts/event-envelope';
import { createApp } from '../../src/api/app';
import { inMemoryPorts, type InMemoryPorts } from '../support/in-memory-ports';

const silent = pino({ level: 'silent' });
const T = '2024-05-01T10:00:00.000Z';
let ports: InMemoryPorts;
let app: ReturnType<typeof createApp>;

function envelope(version: number, event_type: string, payload: unknown, aggregate_id = 'crm:ada'): EventEnvelope {
  return {
    event_id: `e${version}`,
    event_type,
    aggregate_type: 'instance',
    aggregate_id,
    aggregate_version: version,
    occurred_at: `2024-05-0${version}T00:00:00.000Z`,
    actor: 'test',
    command_id: `c${version}`,
    schema_version: 1,
    payload,
    metadata: { storage_mode: 's3_only' },
  };
}

beforeEach(() => {
  ports = inMemoryPorts();
  app = createApp(ports, silent, { healthTimeoutMs: 100 });
  const rm = ports.readModels;
  rm.databases = [{ name: 'crm', description: null, version: 1, created_at: T, updated_at: T }];
  rm.classes = [{ db_name: 'crm', id: 'Person', label: 'Person', description: null, parent_class: null, abstract: false, definition: {}, version: 2, created_at: T, updated_at: T }];
  rm.instances = [
    { db_name: 'crm', id: 'ada', class_id: 'Person', properties: { name: 'Ada', age: 36, admin: true }, relationships: { knows: ['bob'] }, version: 3, created_at: T, updated_at: T },
    { db_name: 'crm', id: 'bob', class_id: 'Person', properties: { name: 'Bob', age: 40, admin: false }, relationships: { knows: ['cy'] }, version: 1, created_at: T, updated_at: T },
    { db_name: 'crm', id: 'cy', class_id: 'Person', properties: { name: 'Cy', code: '007' }, relationships: {}, version: 0, created_at: T, updated_at: T },
  ];
  rm.edges = [
    { db_name: 'crm', from_id: 'ada', predicate: 'knows', to_id: 'bob' },
    { db_name: 'crm', from_id: 'bob', predicate: 'knows', to_id: 'cy' },
  ];
  ports.history.append({ ...envelope(1, 'DATABASE_CREATED', { name: 'crm' }, 'crm'), aggregate_type: 'database' });
  const instance = (name: string) => ({ id: 'ada', class_id: 'Person', properties: { name }, relationships: {} });
  ports.history.append(envelope(1, 'INSTANCE_CREATED', { db_name: 'crm', instance: instance('Ada') }));
  ports.history.append(envelope(2, 'INSTANCE_UPDATED', { db_name: 'crm', changes: { properties: { name: 'Ada L.' } }, instance: instance('Ada L.') }));
  ports.history.append(envelope(3, 'INSTANCE_DELETED', { db_name: 'crm', instance_id: 'ada', class_id: 'Person' }));
});

/** Reads of class and instance streams (each history request reads the database's stream first). */
const streamCalls = () => ports.history.calls.filter((c) => c.aggregateType !== 'database');

describe('read routes', () => {
  test('databases: list and get (with the version as ETag)', async () => {
    expect((await request(app).get('/api/v1/databases')).body).toEqual({ items: ports.readModels.databases, next_cursor: null });
    const one = await request(app).get('/api/v1/databases/crm');
    expect(one.status).toBe(200);
    expect(one.body.name).toBe('crm');
    expect(one.headers.etag).toBe('"1"');
    const missing = await request(app).get('/api/v1/databases/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('DATABASE_NOT_FOUND');
  });

  test('classes: list and get; 404 tells a missing database from a missing class', async () => {
    expect((await request(app).get('/api/v1/databases/crm/classes')).body.items).toHaveLength(1);
    expect((await request(app).get('/api/v1/databases/crm/classes/Person')).headers.etag).toBe('"2"');
    expect((await request(app).get('/api/v1/databases/crm/classes/Robot')).body.code).toBe('CLASS_NOT_FOUND');
    expect((await request(app).get('/api/v1/databases/nope/classes/Person')).body.code).toBe('DATABASE_NOT_FOUND');
    expect((await request(app).get('/api/v1/databases/nope/classes')).status).toBe(404);
  });

  test('instances: paging with limit and cursor', async () => {
    const first = await request(app).get('/api/v1/databases/crm/classes/Person/instances?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.items.map((i: { id: string }) => i.id)).toEqual(['ada', 'bob']);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await request(app).get(`/api/v1/databases/crm/classes/Person/instances?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body).toEqual({ items: [expect.objectContaining({ id: 'cy' })], next_cursor: null });
    expect(ports.readModels.calls.find((c) => c.method === 'listInstances')?.args).toEqual(['crm', { class_id: 'Person', limit: 2 }]);
  });

  test('instances: filter[prop]=value with typed values', async () => {
    const res = await request(app).get('/api/v1/databases/crm/classes/Person/instances?filter[age]=36&filter[admin]=true&filter[name]=Ada');
    expect(res.body.items.map((i: { id: string }) => i.id)).toEqual(['ada']);
    const q = ports.readModels.calls.find((c) => c.method === 'listInstances')?.args[1];
    expect(q).toEqual({ class_id: 'Person', limit: 100, filter: { age: 36, admin: true, name: 'Ada' } });
    const quoted = await request(app).get('/api/v1/databases/crm/classes/Person/instances?filter[code]="007"');
    expect(quoted.body.items.map((i: { id: string }) => i.id)).toEqual(['cy']);
    // the encoded form of the brackets works the same
    const encoded = await request(app).get('/api/v1/databases/crm/classes/Person/instances?filter%5Bname%5D=Bob');
    expect(encoded.body.items.map((i: { id: string }) => i.id)).toEqual(['bob']);
  });

  test.each([
    ['limit=0', 'limit'],
    ['limit=5000', 'limit'],
    ['limit=abc', 'limit'],
    ['name=Ada', 'name'],
    ['filter[__proto__]=x', 'filter[__proto__]'],
    ['limit=1&limit=2', 'limit'],
  ])('instances: bad query %s -> 400 INVALID_QUERY', async (qs, path) => {
    const res = await request(app).get(`/api/v1/databases/crm/classes/Person/instances?${qs}`);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('INVALID_QUERY');
    expect(res.body.errors[0].path).toBe(path);
    expect(ports.readModels.calls.filter((c) => c.method === 'listInstances')).toHaveLength(0);
  });

  test('instance: get by id, and through its class', async () => {
    const res = await request(app).get('/api/v1/databases/crm/instances/ada');
    expect(res.body).toMatchObject({ id: 'ada', class_id: 'Person' });
    expect(res.headers.etag).toBe('"3"');
    expect((await request(app).get('/api/v1/databases/crm/classes/Person/instances/ada')).status).toBe(200);
    expect((await request(app).get('/api/v1/databases/crm/classes/Robot/instances/ada')).status).toBe(404);
    expect((await request(app).get('/api/v1/databases/crm/instances/zed')).body.code).toBe('INSTANCE_NOT_FOUND');
  });

  test('relationships: one hop, and a traversal with ?depth', async () => {
    const hop = await request(app).get('/api/v1/databases/crm/instances/bob/relationships');
    expect(hop.body).toEqual({
      outgoing: [{ from_id: 'bob', predicate: 'knows', to_id: 'cy' }],
      incoming: [{ from_id: 'ada', predicate: 'knows', to_id: 'bob' }],
      next_cursor: null,
    });
    const deep = await request(app).get('/api/v1/databases/crm/instances/ada/relationships?depth=2');
    expect(deep.body.depth).toBe(2);
    expect(deep.body.nodes.map((n: { id: string }) => n.id).sort()).toEqual(['ada', 'bob', 'cy']);
    expect(deep.body.edges).toHaveLength(2);
    expect(ports.readModels.calls.find((c) => c.method === 'traverse')?.args).toEqual(['crm', 'ada', 2, 1000]);
    for (const depth of ['0', '6', 'x']) {
      const bad = await request(app).get(`/api/v1/databases/crm/instances/ada/relationships?depth=${depth}`);
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('INVALID_QUERY');
    }
  });

  test('search: q required, class_id and limit passed on', async () => {
    const res = await request(app).get('/api/v1/databases/crm/search?q=ada&class_id=Person&limit=5');
    expect(res.body.items.map((i: { id: string }) => i.id)).toEqual(['ada']);
    expect(ports.readModels.calls.find((c) => c.method === 'search')?.args).toEqual(['crm', 'ada', { class_id: 'Person', limit: 5 }]);
    expect((await request(app).get('/api/v1/databases/crm/search')).body.code).toBe('INVALID_QUERY');
    expect((await request(app).get('/api/v1/databases/crm/search?q=a&class_id=bad-id')).status).toBe(400);
  });

  test('history: instance and class streams with the domain aggregate ids', async () => {
    const res = await request(app).get('/api/v1/databases/crm/instances/ada/history');
    expect(res.body.items.map((e: EventEnvelope) => e.aggregate_version)).toEqual([1, 2, 3]);
    expect(streamCalls()[0]).toEqual({ aggregateType: 'instance', aggregateId: 'crm:ada', fromVersion: 1, toVersion: 101 });
    ports.history.append({ ...envelope(1, 'ONTOLOGY_CLASS_CREATED', {}, 'crm:Person'), aggregate_type: 'ontology_class' });
    const cls = await request(app).get('/api/v1/databases/crm/classes/Person/history');
    expect(cls.body.items).toHaveLength(1);
    expect(streamCalls()[1]).toEqual({ aggregateType: 'ontology_class', aggregateId: 'crm:Person', fromVersion: 1, toVersion: 101 });
    expect((await request(app).get('/api/v1/databases/crm/classes/Robot/history')).status).toBe(404);
    // a bulk-created instance has an empty stream but exists
    const bulk = await request(app).get('/api/v1/databases/crm/instances/cy/history');
    expect(bulk.status).toBe(200);
    expect(bulk.body.items).toEqual([]);
  });

  test("history and time travel read the streams of the database's current life; a deleted database has none", async () => {
    ports.history.append({ ...envelope(2, 'DATABASE_DELETED', { name: 'crm' }, 'crm'), aggregate_type: 'database' });
    for (const path of ['instances/ada/history', 'instances/ada/at/1', 'classes/Person/history']) {
      const gone = await request(app).get(`/api/v1/databases/crm/${path}`);
      expect([path, gone.status, gone.body.code]).toEqual([path, 404, 'DATABASE_NOT_FOUND']);
    }
    ports.history.append({ ...envelope(3, 'DATABASE_CREATED', { name: 'crm' }, 'crm'), aggregate_type: 'database' });
    ports.history.append(
      envelope(1, 'INSTANCE_CREATED', { db_name: 'crm', db_incarnation: 3, instance: { id: 'ada', class_id: 'Person', properties: { name: 'Ada II' }, relationships: {} } }, 'crm@3:ada'),
    );
    const res = await request(app).get('/api/v1/databases/crm/instances/ada/history');
    expect(res.body.items.map((e: EventEnvelope) => e.aggregate_id)).toEqual(['crm@3:ada']);
    expect((await request(app).get('/api/v1/databases/crm/instances/ada/at/1')).body.instance.properties).toEqual({ name: 'Ada II' });
    expect((await request(app).get('/api/v1/databases/crm/instances/ada/at/2')).body.code).toBe('VERSION_NOT_FOUND');
    expect((await request(app).get('/api/v1/databases/crm/classes/Person/history')).body.code).toBe('CLASS_NOT_FOUND');
  });

  test('time travel: the state folded up to a version', async () => {
    const v1 = await request(app).get('/api/v1/databases/crm/instances/ada/at/1');
    expect(v1.status).toBe(200);
    expect(v1.body).toEqual({
      db_name: 'crm',
      id: 'ada',
      version: 1,
      status: 'active',
      as_of: '2024-05-01T00:00:00.000Z',
      instance: { id: 'ada', class_id: 'Person', properties: { name: 'Ada' }, relationships: {} },
    });
    expect(streamCalls()[0]).toEqual({ aggregateType: 'instance', aggregateId: 'crm:ada', toVersion: 1 });
    expect((await request(app).get('/api/v1/databases/crm/instances/ada/at/2')).body.instance.properties).toEqual({ name: 'Ada L.' });
    expect((await request(app).get('/api/v1/databases/crm/instances/ada/at/3')).body.status).toBe('deleted');
    const missing = await request(app).get('/api/v1/databases/crm/instances/ada/at/4');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('VERSION_NOT_FOUND');
    expect((await request(app).get('/api/v1/databases/crm/instances/zed/at/1')).status).toBe(404);
    for (const v of ['0', '-1', 'x', '01']) expect((await request(app).get(`/api/v1/databases/crm/instances/ada/at/${v}`)).body.code).toBe('INVALID_ID');
  });

  test('reads never call the gateway', async () => {
    await request(app).get('/api/v1/databases/crm/instances/ada');
    expect(ports.commands.submitted).toHaveLength(0);
  });
});

describe('health', () => {
  test('live is always 200, at the root and under /api/v1', async () => {
    ports.health.push({ name: 'temporal', check: async () => Promise.reject(new Error('down')) });
    expect((await request(app).get('/health/live')).status).toBe(200);
    expect((await request(app).get('/api/v1/health/live')).body).toEqual({ status: 'ok' });
  });

  test('ready: 200 when every check passes', async () => {
    ports.health.push({ name: 's3', check: async () => undefined }, { name: 'postgres', check: async () => undefined });
    const res = await request(app).get('/health/ready');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ok', checks: { s3: { status: 'ok' }, postgres: { status: 'ok' } } });
  });

  test('ready: 503 problem listing failing and hung checks (each bounded)', async () => {
    ports.health.push(
      { name: 's3', check: async () => undefined },
      { name: 'kafka', check: async () => Promise.reject(new Error('broker unreachable')) },
      { name: 'temporal', check: () => new Promise<void>(() => undefined) },
    );
    const started = Date.now();
    const res = await request(app).get('/api/v1/health/ready');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('NOT_READY');
    expect(res.body.errors).toEqual([
      // The dependency's own words stay in the log (test/unit/api-safe-errors.unit.test.ts).
      { path: 'kafka', message: 'the check failed; the server log has the reason under the request id' },
      { path: 'temporal', message: 'timed out after 100 ms' },
    ]);
    expect(res.body.checks.s3.status).toBe('ok');
  });
});

describe('observability', () => {
  test('X-Request-Id is echoed, or generated', async () => {
    const given = await request(app).get('/api/v1/databases').set('X-Request-Id', 'req-42');
    expect(given.headers['x-request-id']).toBe('req-42');
    const generated = await request(app).get('/api/v1/databases');
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const problemRes = await request(app).get('/api/v1/databases/nope').set('X-Request-Id', 'req-43');
    expect(problemRes.body.request_id).toBe('req-43');
  });

  test('one log line per request with the request id and route pattern', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    const logged = createApp(ports, pino({ level: 'info' }, sink));
    await request(logged).get('/api/v1/databases/crm').set('X-Request-Id', 'abc');
    await request(logged).delete('/api/v1/databases/NOPE');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ req_id: 'abc', method: 'GET', route: '/api/v1/databases/:db', status: 200 });
    expect(lines[1]).toMatchObject({ method: 'DELETE', status: 400, code: 'INVALID_ID' });
  });

  test('GET /metrics exposes the duration histogram by route pattern and status', async () => {
    await request(app).get('/api/v1/databases/crm');
    await request(app).get('/api/v1/databases/nope');
    const res = await request(app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/databases\/:db",status_code="200"\} 1/);
    expect(res.text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/databases\/:db",status_code="404"\} 1/);
    expect(res.text).not.toContain('route="/api/v1/databases/crm"');
  });
});

describe('openapi.json', () => {
  const expected: Array<[string, string]> = [
    ['post', '/api/v1/databases'],
    ['get', '/api/v1/databases'],
    ['get', '/api/v1/databases/{db}'],
    ['delete', '/api/v1/databases/{db}'],
    ['post', '/api/v1/databases/{db}/classes'],
    ['get', '/api/v1/databases/{db}/classes'],
    ['get', '/api/v1/databases/{db}/classes/{classId}'],
    ['put', '/api/v1/databases/{db}/classes/{classId}'],
    ['delete', '/api/v1/databases/{db}/classes/{classId}'],
    ['get', '/api/v1/databases/{db}/classes/{classId}/history'],
    ['post', '/api/v1/databases/{db}/classes/{classId}/instances'],
    ['get', '/api/v1/databases/{db}/classes/{classId}/instances'],
    ['post', '/api/v1/databases/{db}/classes/{classId}/instances:bulk'],
    ['put', '/api/v1/databases/{db}/classes/{classId}/instances/{id}'],
    ['delete', '/api/v1/databases/{db}/classes/{classId}/instances/{id}'],
    ['get', '/api/v1/databases/{db}/instances/{id}'],
    ['get', '/api/v1/databases/{db}/instances/{id}/relationships'],
    ['get', '/api/v1/databases/{db}/instances/{id}/history'],
    ['get', '/api/v1/databases/{db}/instances/{id}/at/{version}'],
    ['get', '/api/v1/databases/{db}/search'],
    ['get', '/api/v1/commands/{commandId}'],
    ['get', '/api/v1/health/live'],
    ['get', '/api/v1/health/ready'],
    ['get', '/health/live'],
    ['get', '/health/ready'],
    ['get', '/metrics'],
    ['get', '/api/v1/openapi.json'],
  ];

  test('is OpenAPI 3.1 and lists every route', async () => {
    const res = await request(app).get('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    for (const [method, path] of expected) expect(res.body.paths[path]?.[method]).toBeDefined();
  });

  test('every documented operation is actually routed (no 404 for the documented path and method)', async () => {
    const doc = (await request(app).get('/api/v1/openapi.json')).body;
    const sample: Record<string, string> = { db: 'crm', classId: 'Person', id: 'ada', commandId: 'cmd-1', version: '1' };
    for (const [path, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
      for (const method of Object.keys(ops)) {
        const url = path.replace(/\{(\w+)\}/g, (_m, name: string) => sample[name]);
        const res = await (request(app) as unknown as Record<string, (u: string) => request.Test>)[method](url).set('Content-Type', 'application/json').send('{}');
        expect([method, path, res.body?.code]).not.toEqual([method, path, 'NOT_FOUND']);
        expect(res.status).not.toBe(405);
      }
    }
  });

  test('request bodies come from the domain schemas; path-filled fields are optional', async () => {
    const doc = (await request(app).get('/api/v1/openapi.json')).body;
    const body = (path: string, method: string) => doc.paths[path][method].requestBody.content['application/json'].schema;
    expect(body('/api/v1/databases', 'post').properties.name.pattern).toBe('^[a-z][a-z0-9_-]{0,62}$');
    expect(body('/api/v1/databases/{db}/classes/{classId}', 'put').required ?? []).not.toContain('id');
    expect(body('/api/v1/databases/{db}/classes/{classId}/instances', 'post').required ?? []).not.toContain('class_id');
    expect(body('/api/v1/databases/{db}/classes/{classId}/instances:bulk', 'post').required).toEqual(['instances']);
    const list = doc.paths['/api/v1/databases/{db}/classes/{classId}/instances'].get.parameters.map((p: { name: string }) => p.name);
    expect(list).toEqual(expect.arrayContaining(['db', 'classId', 'limit', 'cursor', 'filter']));
    const write = doc.paths['/api/v1/databases'].post.parameters.map((p: { name: string }) => p.name);
    expect(write).toEqual(expect.arrayContaining(['Idempotency-Key', 'If-Match', 'X-Actor', 'Prefer', 'wait']));
  });
});

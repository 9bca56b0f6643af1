import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { DomainError } from '../../src/domain/errors';
import { inMemoryPorts, type InMemoryPorts } from '../support/in-memory-ports';

const silent = pino({ level: 'silent' });
let ports: InMemoryPorts;
let app: ReturnType<typeof createApp>;

beforeEach(() => {
  ports = inMemoryPorts({ bodyLimitBytes: 10 * 1024 });
  app = createApp(ports, silent);
});

function expectProblem(res: request.Response, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({
    type: `https://spice-oms.dev/problems/${code.toLowerCase().replace(/_/g, '-')}`,
    title: expect.any(String),
    status,
    detail: expect.any(String),
    code,
    instance: expect.stringMatching(/^\//),
  });
  // nothing reached the gateway, so nothing can have been stored
  expect(ports.commands.submitted).toHaveLength(0);
}

const post = (path: string) => request(app).post(path).set('Content-Type', 'application/json');

describe('malformed and mistyped bodies', () => {
  test.each(['{"name": "crm"', '{name: crm}', "{'name':'crm'}", '"crm"', '42', '{"name":"crm"} trailing'])('malformed JSON %s -> 400 MALFORMED_JSON', async (body) => {
    expectProblem(await post('/api/v1/databases').send(body), 400, 'MALFORMED_JSON');
  });

  test.each([
    ['text/plain', 'name=crm'],
    ['application/x-www-form-urlencoded', 'name=crm'],
    ['application/xml', '<name>crm</name>'],
  ])('Content-Type %s -> 415', async (type, body) => {
    expectProblem(await request(app).post('/api/v1/databases').set('Content-Type', type).send(body), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('no Content-Type on a write -> 415', async () => {
    const res = await request(app).put('/api/v1/databases/crm/classes/Person');
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('application/json with a charset and +json types are accepted', async () => {
    const a = await request(app).post('/api/v1/databases').set('Content-Type', 'application/json; charset=utf-8').send('{"name":"crm"}');
    const b = await request(app).post('/api/v1/databases').set('Content-Type', 'application/merge-patch+json').send('{"name":"crm2"}');
    expect([a.status, b.status]).toEqual([202, 202]);
  });

  test('an unsupported charset -> 415', async () => {
    const res = await request(app).post('/api/v1/databases').set('Content-Type', 'application/json; charset=ebcdic').send('{"name":"crm"}');
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('a body over ports.bodyLimitBytes -> 413 PAYLOAD_TOO_LARGE', async () => {
    const big = JSON.stringify({ name: 'crm', description: 'x'.repeat(20_000) });
    expectProblem(await post('/api/v1/databases').send(big), 413, 'PAYLOAD_TOO_LARGE');
  });

  test('a large bulk body over the limit -> 413', async () => {
    const instances = Array.from({ length: 1000 }, (_, i) => ({ id: `i${i}`, properties: { name: 'n' } }));
    expectProblem(await post('/api/v1/databases/crm/classes/Person/instances:bulk').send({ instances }), 413, 'PAYLOAD_TOO_LARGE');
  });

  test('an empty JSON body on a create -> 422', async () => {
    expectProblem(await post('/api/v1/databases').send(''), 422, 'VALIDATION_FAILED');
  });
});

describe('schema violations -> 422 VALIDATION_FAILED listing every issue', () => {
  test('database: bad name and unknown field are both listed', async () => {
    const res = await post('/api/v1/databases').send({ name: 'Bad Name!', color: 'red' });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.body.errors).toEqual(
      expect.arrayContaining([
        { path: 'name', message: expect.stringContaining('must match') },
        { path: '', message: expect.stringContaining('color') },
      ]),
    );
    expect(res.body.errors).toHaveLength(2);
  });

  test('class: several nested issues with dotted/indexed paths', async () => {
    const res = await post('/api/v1/databases/crm/classes').send({
      id: '9bad',
      label: '',
      properties: [
        { name: 'tags', type: 'array' },
        { name: '__proto__', type: 'string' },
        { name: 'age', type: 'float' },
      ],
      relationships: [{ predicate: 'knows', target_class: 'Person', cardinality: 'many' }],
    });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    const paths = (res.body.errors as Array<{ path: string }>).map((e) => e.path).sort();
    expect(paths).toEqual(['id', 'label', 'properties[0].items', 'properties[1].name', 'properties[2].type', 'relationships[0].cardinality'].sort());
  });

  test('instance: bad id, non-object properties, bad relationship target', async () => {
    const res = await post('/api/v1/databases/crm/classes/Person/instances').send({ id: '-x', properties: [], relationships: { knows: ['a/b'] } });
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect((res.body.errors as Array<{ path: string }>).map((e) => e.path).sort()).toEqual(['id', 'properties', 'relationships.knows[0]'].sort());
  });

  test('updates with nothing to update are refused', async () => {
    expectProblem(await request(app).put('/api/v1/databases/crm/classes/Person').send({}), 422, 'VALIDATION_FAILED');
    expectProblem(await request(app).put('/api/v1/databases/crm/classes/Person/instances/ada').send({}), 422, 'VALIDATION_FAILED');
  });

  test('a __proto__ key anywhere in the body is refused, not silently dropped', async () => {
    const res = await post('/api/v1/databases/crm/classes/Person/instances').send('{"id":"a","properties":{"__proto__":{"admin":true}}}');
    expectProblem(res, 422, 'VALIDATION_FAILED');
    expect(res.body.errors).toEqual([{ code: 'VALIDATION_FAILED', path: 'properties.__proto__', message: expect.any(String) }]);
  });

  test('a deeply nested body does not crash the server', async () => {
    const deep = '{"id":"a","properties":{"x":' + '['.repeat(5000) + ']'.repeat(5000) + '}}';
    const res = await post('/api/v1/databases/crm/classes/Person/instances').send(deep);
    expect(res.status).toBeLessThan(500);
  });

  test('a JSON array instead of an object', async () => {
    expectProblem(await post('/api/v1/databases').send([{ name: 'crm' }]), 422, 'VALIDATION_FAILED');
  });
});

describe('hostile ids in path segments -> 400 INVALID_ID', () => {
  const hostile = [
    ['encoded slash', '/api/v1/databases/..%2F..%2Fetc'],
    ['encoded dot segment', '/api/v1/databases/%2e%2e'],
    ['NUL', '/api/v1/databases/crm%00'],
    ['newline', '/api/v1/databases/crm%0Aevil'],
    ['backslash', '/api/v1/databases/crm%5C..'],
    ['overlong db', `/api/v1/databases/${'a'.repeat(64)}`],
    ['overlong class', `/api/v1/databases/crm/classes/${'A'.repeat(129)}`],
    ['overlong instance', `/api/v1/databases/crm/classes/Person/instances/${'i'.repeat(129)}`],
    ['bad percent-encoding', '/api/v1/databases/%E0%A4%A'],
    ['uppercase db', '/api/v1/databases/CRM'],
    ['class with a dash', '/api/v1/databases/crm/classes/Per-son'],
  ];

  test.each(hostile)('DELETE with %s', async (_what, path) => {
    expectProblem(await request(app).delete(path), 400, 'INVALID_ID');
  });

  test.each(hostile.filter(([, path]) => !path.includes('/classes/')))('PUT/POST under a database path with %s', async (_what, path) => {
    expectProblem(await request(app).put(`${path}/classes/X`).send({ label: 'x' }), 400, 'INVALID_ID');
    expectProblem(
      await request(app)
        .post(`${path}/classes/X/instances:bulk`)
        .send({ instances: [{ id: 'a' }] }),
      400,
      'INVALID_ID',
    );
  });

  test('GET reads are refused too and never reach the read models', async () => {
    const res = await request(app).get('/api/v1/databases/crm/instances/a%2Fb');
    expectProblem(res, 400, 'INVALID_ID');
    expect(ports.readModels.calls).toHaveLength(0);
    expect(ports.history.calls).toHaveLength(0);
  });

  test('a literal ../ segment (sent raw, unnormalised) -> 400', async () => {
    const server = http.createServer(app).listen(0);
    try {
      const { port } = server.address() as AddressInfo;
      const res = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
        const req = http.request({ port, method: 'DELETE', path: '/api/v1/databases/../../etc/passwd' }, (r) => {
          let body = '';
          r.on('data', (c) => (body += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, type: String(r.headers['content-type']), body }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(res.status).toBe(400);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(res.body).code).toBe('INVALID_ID');
    } finally {
      server.close();
    }
    expect(ports.commands.submitted).toHaveLength(0);
  });

  test('instance ids may contain dots, colons and dashes', async () => {
    const res = await request(app).delete('/api/v1/databases/crm/classes/Person/instances/a.b:c-d');
    expect(res.status).toBe(202);
    expect(ports.commands.submitted[0].payload).toEqual({ id: 'a.b:c-d', class_id: 'Person' });
  });
});

describe('unknown routes and wrong methods', () => {
  test('unknown route -> 404 problem', async () => {
    expectProblem(await request(app).get('/api/v1/nope'), 404, 'NOT_FOUND');
    expectProblem(await request(app).post('/api/v1/databases/crm/widgets').send({}), 404, 'NOT_FOUND');
    expectProblem(await request(app).get('/elsewhere'), 404, 'NOT_FOUND');
  });

  test('wrong method -> 405 with Allow', async () => {
    const res = await request(app).patch('/api/v1/databases').set('Content-Type', 'application/json').send({});
    // PATCH has a body, so the content type check runs first; it passes and routing answers 405
    expectProblem(res, 405, 'METHOD_NOT_ALLOWED');
    expect(res.headers.allow).toBe('GET, HEAD, POST, OPTIONS');
    const del = await request(app).delete('/api/v1/databases/crm/classes/Person/instances');
    expectProblem(del, 405, 'METHOD_NOT_ALLOWED');
    expect(del.headers.allow).toBe('GET, HEAD, POST, OPTIONS');
    const put = await request(app).put('/api/v1/commands/cmd-1').send({});
    expectProblem(put, 405, 'METHOD_NOT_ALLOWED');
    expect(put.headers.allow).toBe('GET, HEAD, OPTIONS');
    const getBulk = await request(app).get('/api/v1/databases/crm/classes/Person/instances:bulk');
    expectProblem(getBulk, 405, 'METHOD_NOT_ALLOWED');
    expect(getBulk.headers.allow).toBe('POST, OPTIONS');
  });

  test('OPTIONS lists the allowed methods', async () => {
    const res = await request(app).options('/api/v1/databases/crm');
    expect(res.status).toBe(204);
    expect(res.headers.allow).toBe('GET, HEAD, DELETE, OPTIONS');
  });
});

describe('headers and query strings', () => {
  test('repeated Idempotency-Key headers are refused', async () => {
    // node joins repeated values of such a header with ", ", which a key cannot contain
    const res = await post('/api/v1/databases').set('Idempotency-Key', 'a, b').send({ name: 'crm' });
    expectProblem(res, 400, 'INVALID_HEADER');
  });

  test('unknown query parameters on writes are refused', async () => {
    expectProblem(await post('/api/v1/databases?force=true').send({ name: 'crm' }), 400, 'INVALID_QUERY');
  });

  test('a gateway refusing a reused Idempotency-Key synchronously -> 422 IDEMPOTENCY_KEY_REUSED', async () => {
    ports.commands.submit = async () => {
      throw Object.assign(new Error('this Idempotency-Key was already used with a different request'), { code: 'IDEMPOTENCY_KEY_REUSED' });
    };
    const res = await post('/api/v1/databases').set('Idempotency-Key', 'k').send({ name: 'crm' });
    expect(res.status).toBe(422);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  test('a port throwing a DomainError -> its mapped status', async () => {
    ports.commands.submit = async () => {
      throw new DomainError('DATABASE_NOT_FOUND', "database 'crm' does not exist");
    };
    const res = await post('/api/v1/databases/crm/classes').send({ id: 'Person', label: 'Person' });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('DATABASE_NOT_FOUND');
  });

  test('a port throwing an unexpected error -> 500 problem without internals', async () => {
    ports.commands.submit = async () => {
      throw new Error('connection refused to 10.0.0.7:7233');
    };
    const res = await post('/api/v1/databases').send({ name: 'crm' });
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('INTERNAL_ERROR');
    expect(JSON.stringify(res.body)).not.toContain('10.0.0.7');
  });
});

/**
 * Input the stores cannot hold, and input that costs too much, is refused by the API before a
 * command is built: the in-memory gateway records every submit, so "nothing submitted" means
 * nothing can have reached S3, the ledger, Kafka or the read models.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { inspectBody } from '../../src/api/body-inspection';
import { inMemoryPorts, type InMemoryPorts } from '../support/in-memory-ports';
import { ConfigError, loadConfig, parseByteSize } from '../../src/app/config';
import { BAD_TEXT, UNSTORABLE_FIELDS } from '../support/unstorable';

const silent = pino({ level: 'silent' });
let ports: InMemoryPorts;
let app: ReturnType<typeof createApp>;

function build(limits: Parameters<typeof inMemoryPorts>[0] = {}) {
  ports = inMemoryPorts(limits);
  app = createApp(ports, silent);
}
beforeEach(() => build());

function expectRefused(res: request.Response, status: number, code: string, paths?: string[]): void {
  expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  if (paths !== undefined) expect((res.body.errors as Array<{ path: string }>).map((e) => e.path).sort()).toEqual([...paths].sort());
  expect(ports.commands.submitted).toHaveLength(0);
}

/** Sends JSON text as written: JSON.stringify would not write a lone surrogate escape. */
const send = (method: 'post' | 'put', path: string, body: string) => request(app)[method](`/api/v1${path}`).set('Content-Type', 'application/json').send(body);

describe('strings no store can hold -> 422 UNSTORABLE_STRING naming the field, nothing submitted', () => {
  test.each(UNSTORABLE_FIELDS('crm', 'Person'))('%s', async (_field, method, path, template, errorPath) => {
    for (const [, escape] of BAD_TEXT) {
      const res = await send(method, path, template.replace('X', escape));
      // A bad key is named as it was sent.
      const named = errorPath.replace('X', JSON.parse(`"${escape}"`));
      expectRefused(res, 422, 'UNSTORABLE_STRING', [named]);
      expect(res.body.errors[0]).toEqual({ code: 'UNSTORABLE_STRING', path: named, message: expect.any(String) });
    }
  });

  test('the message says what was found and where, and the problem lists every bad string', async () => {
    const res = await send('post', '/databases/crm/classes/Person/instances', '{"properties":{"a":"x\\u0000","b":"\\ud800y"}}');
    expectRefused(res, 422, 'UNSTORABLE_STRING', ['properties.a', 'properties.b']);
    const byPath = Object.fromEntries((res.body.errors as Array<{ path: string; message: string }>).map((e) => [e.path, e.message]));
    expect(byPath['properties.a']).toMatch(/U\+0000.*index 1/);
    expect(byPath['properties.b']).toMatch(/unpaired surrogate U\+D800 at index 0/);
  });

  test('at most 20 issues are listed, the first in document order, however many the body has', async () => {
    const bad = Array.from({ length: 50 }, () => '"x\\u0000"').join(',');
    const res = await send('post', '/databases/crm/classes/Person/instances', `{"properties":{"tags":[${bad}],"many":{${Array.from({ length: 30 }, (_, i) => `"k${i}":"\\ud800"`).join(',')}}}}`);
    expectRefused(res, 422, 'UNSTORABLE_STRING');
    // the first 20 in document order
    expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual(Array.from({ length: 20 }, (_, i) => `properties.tags[${i}]`));
  });

  test('control characters: refused in labels, TAB/LF/CR allowed in descriptions, all kept in property values', async () => {
    expectRefused(await send('post', '/databases/crm/classes', '{"id":"P","label":"two\\nlines"}'), 422, 'UNSTORABLE_STRING', ['label']);
    expectRefused(
      await send('post', '/databases/crm/classes', '{"id":"P","label":"P","relationships":[{"predicate":"k","target_class":"P","cardinality":"n:m","label":"a\\u0085"}]}'),
      422,
      'UNSTORABLE_STRING',
      ['relationships[0].label'],
    );
    expectRefused(await send('post', '/databases', '{"name":"crm","description":"bell\\u0007"}'), 422, 'UNSTORABLE_STRING', ['description']);
    expectRefused(await send('post', '/databases', '{"name":"crm","description":"esc\\u001b[0m"}'), 422, 'UNSTORABLE_STRING', ['description']);
    expect((await send('post', '/databases', '{"name":"crm","description":"line one\\nline\\ttwo\\r\\n"}')).status).toBe(202);
    const data = await send('post', '/databases/crm/classes/Person/instances', '{"id":"a","properties":{"raw":"\\u0001\\u001b[31m\\u007f\\u0085","doc":{"k\\u0007":"\\t"}}}');
    expect(data.status).toBe(202);
    expect(ports.commands.submitted[1].payload).toMatchObject({ properties: { raw: '\u0001\u001b[31m\u007f\u0085', doc: { 'k\u0007': '\t' } } });
  });

  test('a body that is not valid UTF-8 is refused, not decoded with U+FFFD in place of the bad bytes', async () => {
    const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : Buffer.from(x))));
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80] /* an encoded lone surrogate */, [0xc0, 0xaf] /* overlong */]) {
      const body = bytes('{"name":"crm","description":"a', bad, 'b"}');
      // sent as the raw bytes: supertest would serialise a Buffer as JSON
      const res = await request(app)
        .post('/api/v1/databases')
        .set('Content-Type', 'application/json')
        .serialize(() => body as never)
        .send({});
      expectRefused(res, 400, 'MALFORMED_JSON');
      expect(res.body.detail).toMatch(/UTF-8/);
    }
  });

  test('well-formed text of every plane passes unchanged', async () => {
    const text = 'Ada 😀 𝔸 中文 \u00e9 \ufeff \ufffd';
    const res = await request(app)
      .post('/api/v1/databases/crm/classes/Person/instances')
      .send({ id: 'a', properties: { name: text, tags: [text] } });
    expect(res.status).toBe(202);
    expect(ports.commands.submitted[0].payload).toMatchObject({ properties: { name: text, tags: [text] } });
  });

  test('stored headers: X-Actor and Idempotency-Key are visible ASCII only, so they cannot carry such characters', async () => {
    for (const [name, value] of [
      ['X-Actor', 'ad\u00e9'],
      ['Idempotency-Key', 'k\u00ff'],
      ['X-Actor', 'a\tb'],
      ['Idempotency-Key', 'a b'],
    ]) {
      const res = await request(app).post('/api/v1/databases').set(name, value).send({ name: 'crm' });
      expectRefused(res, 400, 'INVALID_HEADER', [`headers.${name}`]);
    }
  });

  test('query values that reach PostgreSQL as parameters (filters, search text) are refused too', async () => {
    ports.readModels.databases = [{ name: 'crm', description: null, version: 1, created_at: '', updated_at: '' }];
    ports.readModels.classes = [{ db_name: 'crm', id: 'Person', label: 'P', description: null, parent_class: null, abstract: false, definition: {}, version: 1, created_at: '', updated_at: '' }];
    for (const path of ['/databases/crm/classes/Person/instances?filter[name]=a%00b', '/databases/crm/search?q=%EF%BF%BF', '/databases/crm/classes/Person/instances?filter[n%00]=1']) {
      const res = await request(app).get(`/api/v1${path}`);
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 422, code: 'UNSTORABLE_STRING' });
    }
    expect(ports.readModels.calls.filter((c) => c.method === 'listInstances' || c.method === 'search')).toHaveLength(0);
  });
});

/** A JSON text nested `depth` levels deep: arrays, two bytes a level. */
const nested = (depth: number, inner = '') => '['.repeat(depth) + inner + ']'.repeat(depth);

describe('request cost: one linear walk, bounded depth', () => {
  test('a 200 KB body nested 100,000 deep is answered 422 BODY_TOO_DEEP while /health/live keeps answering', async () => {
    const server = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const body = `{"id":"a","properties":{"x":${nested(100_000)}}}`;
    expect(body.length).toBeGreaterThan(200_000);

    const get = () =>
      new Promise<number>((resolve, reject) => {
        const started = performance.now();
        http
          .get({ host: '127.0.0.1', port, path: '/health/live', agent }, (r) => {
            r.resume();
            r.on('end', () => (r.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`health ${r.statusCode}`))));
          })
          .on('error', reject);
      });
    const healthLatencies: number[] = [];
    let stop = false;
    const probing = (async () => {
      while (!stop) {
        healthLatencies.push(await get());
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    // The body is sent slowly, in 20 chunks, so the probe runs before, during and after the walk.
    const started = performance.now();
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/api/v1/databases/crm/classes/Person/instances', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (r) => {
          let text = '';
          r.on('data', (c) => (text += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      const step = Math.ceil(body.length / 20);
      let at = 0;
      const next = () => {
        req.write(body.slice(at, at + step));
        at += step;
        if (at < body.length) setTimeout(next, 25);
        else req.end();
      };
      next();
    });
    const requestMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await probing;
    agent.destroy();
    server.close();

    expect(answer.status).toBe(422);
    const problemBody = JSON.parse(answer.body);
    expect(problemBody.code).toBe('BODY_TOO_DEEP');
    expect(problemBody.errors[0].path).toBe('properties.x' + '[0]'.repeat(62));
    expect(ports.commands.submitted).toHaveLength(0);
    // Health answered all along, each time promptly: the event loop was never held.
    expect(healthLatencies.length).toBeGreaterThan(10);
    // Generous bounds for a shared machine: before the linear walk this body held the loop for minutes.
    expect(Math.max(...healthLatencies)).toBeLessThan(1000);
    expect(requestMs).toBeLessThan(5000);
    process.stdout.write(
      `deep body: answered in ${requestMs.toFixed(0)} ms (sent over ~500 ms); /health/live answered ${healthLatencies.length} times, slowest ${Math.max(...healthLatencies).toFixed(1)} ms\n`,
    );
  });

  test('depth 5,000 is 422 BODY_TOO_DEEP, not 500, and nothing is submitted', async () => {
    const res = await send('post', '/databases/crm/classes/Person/instances', `{"id":"a","properties":{"x":${nested(5000)}}}`);
    expectRefused(res, 422, 'BODY_TOO_DEEP');
    const objects = await send('post', '/databases/crm/classes/Person/instances:bulk', `{"instances":[{"properties":{"x":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}}]}`);
    expectRefused(objects, 422, 'BODY_TOO_DEEP');
  });

  test('the depth limit is configurable and counts the body itself as level 1', async () => {
    build({ limits: { maxBodyDepth: 6 } });
    // body(1) properties(2) x(3..6): four levels of arrays reach 6
    expectRefused(await send('post', '/databases/crm/classes/Person/instances', `{"id":"b","properties":{"x":${nested(5)}}}`), 422, 'BODY_TOO_DEEP', ['properties.x[0][0][0][0]']);
    expect((await send('post', '/databases/crm/classes/Person/instances', `{"id":"a","properties":{"x":${nested(4)}}}`)).status).toBe(202);
  });

  test('the walk is linear in the nodes, whatever their depth: wide levels near the depth limit cost about what one flat level does', () => {
    // The largest depth limit the configuration allows, where a per-node cost that grows with depth shows most.
    const limits = { ...loadConfig({}).inputLimits, maxBodyDepth: 1000 };
    const N = 200_000;
    const items = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 ? '{"k":"t"}' : String(i))).join(',');
    // 8 levels of 25,000 items each, every level holding the next, below a chain of 980 arrays:
    // every node sits at depth 983..992, so a walk that copies the path per node pays ~1000 a node.
    const wideLevels = `${`[${items(N / 8)},`.repeat(7)}[${items(N / 8)}]${']'.repeat(7)}`;
    const deep = JSON.parse(`{"properties":{"x":${nested(980, wideLevels)}}}`);
    const flat = JSON.parse(`{"properties":{"x":[${items(N)}]}}`);
    // The fastest of five runs: the machine is shared, a slow run says nothing about the walk.
    const fastest = (body: unknown) =>
      Math.min(
        ...[1, 2, 3, 4, 5].map(() => {
          const started = performance.now();
          expect(inspectBody(body, limits)).toEqual([]);
          return performance.now() - started;
        }),
      );
    const ratio = fastest(deep) / fastest(flat);
    // Measured on the 2-core machine: ~0.9-1.4 for this walk, ~27 for one that copies the path per node.
    expect(ratio).toBeLessThan(2.5);
  });

  test('a hostile depth costs only the limit: a body nested 100,000 deep is read to depth 64, no further', () => {
    const limits = loadConfig({}).inputLimits;
    let reads = 0;
    // Each array counts the reads of its items and length: the work the walk does on it.
    let chain: unknown = [];
    for (let i = 0; i < 100_000; i++) {
      chain = new Proxy([chain], {
        get(target, key, receiver) {
          reads++;
          return Reflect.get(target, key, receiver);
        },
      });
    }
    expect(inspectBody({ properties: { x: chain } }, limits).map((i) => i.code)).toEqual(['BODY_TOO_DEEP']);
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThan(4 * limits.maxBodyDepth);
  });

  test('reserved keys are still refused at any depth, with their path', async () => {
    const res = await send('post', '/databases/crm/classes/Person/instances', '{"id":"a","properties":{"doc":[{"__proto__":{"admin":true}}]}}');
    expectRefused(res, 422, 'VALIDATION_FAILED', ['properties.doc[0].__proto__']);
  });
});

describe('numbers JSON.parse has already rounded -> 422 UNSAFE_NUMBER', () => {
  test.each([
    ['2^53 + 1 as a decimal/integer value', '{"properties":{"n":9007199254740993}}', 'properties.n'],
    ['-(2^53) in a json value', '{"properties":{"doc":{"big":[-9007199254740992]}}}', 'properties.doc.big[0]'],
    ['1e20 in an array', '{"properties":{"ns":[1,1e20]}}', 'properties.ns[1]'],
    ['a literal beyond the float range', '{"properties":{"n":1e400}}', 'properties.n'],
    ['a fraction that rounded to an unsafe integer', '{"properties":{"n":12345678901234567.5}}', 'properties.n'],
  ])('%s', async (_what, body, path) => {
    const res = await send('post', '/databases/crm/classes/Person/instances', body);
    expectRefused(res, 422, 'UNSAFE_NUMBER', [path]);
  });

  test('safe integers and ordinary decimals pass with their exact value', async () => {
    const res = await send('post', '/databases/crm/classes/Person/instances', '{"id":"a","properties":{"max":9007199254740991,"min":-9007199254740991,"d":0.1,"e":1.5e-300}}');
    expect(res.status).toBe(202);
    expect(ports.commands.submitted[0].payload).toMatchObject({ properties: { max: 9007199254740991, min: -9007199254740991, d: 0.1, e: 1.5e-300 } });
  });
});

describe('property strings over API_MAX_STRING_LENGTH -> 422 STRING_TOO_LONG', () => {
  beforeEach(() => build({ limits: { maxStringLength: 10 } }));

  test.each([
    ['a string property', { properties: { s: 'x'.repeat(11) } }, 'properties.s'],
    ['an array item', { properties: { tags: ['ok', 'y'.repeat(11)] } }, 'properties.tags[1]'],
    ['a string inside a json value', { properties: { doc: { a: 'z'.repeat(11) } } }, 'properties.doc.a'],
  ])('%s', async (_what, body, path) => {
    const res = await request(app).post('/api/v1/databases/crm/classes/Person/instances').send(body);
    expectRefused(res, 422, 'STRING_TOO_LONG', [path]);
    expect(res.body.errors[0].message).toMatch(/11 characters.*limit is 10/);
  });

  test('a string of exactly the limit passes; ids, labels and descriptions keep their own schema limits', async () => {
    expect(
      (
        await request(app)
          .post('/api/v1/databases/crm/classes/Person/instances')
          .send({ id: 'a', properties: { s: 'x'.repeat(10) } })
      ).status,
    ).toBe(202);
    expect(
      (
        await request(app)
          .post('/api/v1/databases')
          .send({ name: 'crm', description: 'd'.repeat(100) })
      ).status,
    ).toBe(202);
  });
});

describe('counts per instance and per request -> 422 TOO_MANY_ITEMS', () => {
  beforeEach(() => build({ limits: { maxPropertiesPerInstance: 3, maxPredicatesPerInstance: 2, maxIdsPerRequest: 4 } }));
  const props = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i]));

  test('properties per instance (single, update, bulk)', async () => {
    const base = '/api/v1/databases/crm/classes/Person/instances';
    expectRefused(
      await request(app)
        .post(base)
        .send({ properties: props(4) }),
      422,
      'TOO_MANY_ITEMS',
      ['properties'],
    );
    expectRefused(
      await request(app)
        .put(`${base}/ada`)
        .send({ properties: props(4) }),
      422,
      'TOO_MANY_ITEMS',
      ['properties'],
    );
    expectRefused(
      await request(app)
        .post(`${base}:bulk`)
        .send({ instances: [{ properties: props(3) }, { properties: props(4) }] }),
      422,
      'TOO_MANY_ITEMS',
      ['instances[1].properties'],
    );
    expect(
      (
        await request(app)
          .post(base)
          .send({ properties: props(3) })
      ).status,
    ).toBe(202);
  });

  test('relationship predicates per instance', async () => {
    const res = await request(app)
      .post('/api/v1/databases/crm/classes/Person/instances')
      .send({ relationships: { a: 'x', b: 'y', c: 'z' } });
    expectRefused(res, 422, 'TOO_MANY_ITEMS', ['relationships']);
  });

  test('relationship target ids per request, over all instances of a bulk', async () => {
    const ok = { instances: [{ relationships: { a: ['1', '2'] } }, { relationships: { a: ['3', '4'] } }] };
    expect((await request(app).post('/api/v1/databases/crm/classes/Person/instances:bulk').send(ok)).status).toBe(202);
    build({ limits: { maxIdsPerRequest: 4 } });
    const over = { instances: [{ relationships: { a: ['1', '2'] } }, { relationships: { a: ['3', '4'], b: '5' } }] };
    const res = await request(app).post('/api/v1/databases/crm/classes/Person/instances:bulk').send(over);
    expectRefused(res, 422, 'TOO_MANY_ITEMS');
    // the id that goes over the limit is named; which one that is depends on the walk's order
    expect(res.body.errors).toEqual([{ code: 'TOO_MANY_ITEMS', path: expect.stringMatching(/^instances\[1\]\.relationships\./), message: expect.stringContaining('more than 4') }]);
  });
});

describe('configuration of the limits', () => {
  test('API_BODY_LIMIT needs a unit: a bare number or an unknown unit is refused at start, not read as bytes or no limit', () => {
    expect(parseByteSize('25mb')).toBe(25 * 1024 * 1024);
    expect(parseByteSize('512KB')).toBe(512 * 1024);
    expect(parseByteSize('1.5 gb')).toBe(1.5 * 1024 ** 3);
    expect(loadConfig({ API_BODY_LIMIT: '10MB' }).apiBodyLimitBytes).toBe(10 * 1024 * 1024);
    for (const bad of ['25', '25m', '25 MiB', 'mb', '-1mb', '0kb', '2gb', '']) {
      expect(() => loadConfig({ API_BODY_LIMIT: bad })).toThrow(ConfigError);
    }
    expect(() => loadConfig({ API_BODY_LIMIT: '25' })).toThrow(/API_BODY_LIMIT.*unit/);
  });

  test('input limits come from the environment, with documented defaults and ranges', () => {
    expect(loadConfig({}).inputLimits).toEqual({ maxBodyDepth: 64, maxStringLength: 1_000_000, maxPropertiesPerInstance: 500, maxPredicatesPerInstance: 500, maxIdsPerRequest: 100_000 });
    expect(loadConfig({ API_MAX_BODY_DEPTH: '16', API_MAX_STRING_LENGTH: '2000000' }).inputLimits).toMatchObject({ maxBodyDepth: 16, maxStringLength: 2_000_000 });
    for (const [name, bad] of [
      ['API_MAX_BODY_DEPTH', '0'],
      ['API_MAX_BODY_DEPTH', '100000'],
      ['API_MAX_STRING_LENGTH', 'lots'],
      ['API_MAX_IDS_PER_REQUEST', '-1'],
    ]) {
      expect(() => loadConfig({ [name]: bad })).toThrow(new RegExp(name));
    }
  });
});

describe('stream versions beyond the PostgreSQL integer range are refused at the door', () => {
  test('/at/{version}: 2^31-1 reaches the history, 2^31 and beyond are 400 INVALID_ID without touching it', async () => {
    for (const version of ['2147483648', '9999999999', '99999999999']) {
      const res = await request(app).get(`/api/v1/databases/crm/instances/ada/at/${version}`);
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'INVALID_ID' });
    }
    expect(ports.history.calls).toHaveLength(0);
    // history reads the database's stream first: its current life names the instance's stream
    ports.history.append({
      event_id: 'd1',
      event_type: 'DATABASE_CREATED',
      aggregate_type: 'database',
      aggregate_id: 'crm',
      aggregate_version: 1,
      occurred_at: '2024-05-01T00:00:00.000Z',
      actor: 't',
      command_id: 'c1',
      schema_version: 1,
      payload: { name: 'crm' },
      metadata: { storage_mode: 's3_only' },
    });
    const edge = await request(app).get('/api/v1/databases/crm/instances/ada/at/2147483647');
    expect({ status: edge.status, code: edge.body.code }).toEqual({ status: 404, code: 'VERSION_NOT_FOUND' });
    expect(ports.history.calls).toEqual([
      { aggregateType: 'database', aggregateId: 'crm' },
      { aggregateType: 'instance', aggregateId: 'crm:ada', toVersion: 2147483647 },
    ]);
  });

  test('If-Match: 2^31-1 is passed on, 2^31 and beyond are 400 INVALID_HEADER', async () => {
    for (const value of ['2147483648', '"2147483648"', '999999999999999']) {
      const res = await request(app)
        .put('/api/v1/databases/crm/classes/Person/instances/ada')
        .set('If-Match', value)
        .send({ properties: { name: 'A' } });
      expectRefused(res, 400, 'INVALID_HEADER', ['headers.If-Match']);
    }
    const edge = await request(app)
      .put('/api/v1/databases/crm/classes/Person/instances/ada')
      .set('If-Match', '"2147483647"')
      .send({ properties: { name: 'A' } });
    expect(edge.status).toBe(202);
    expect(ports.commands.submitted[0].expected_version).toBe(2147483647);
  });
});

describe('every list is paged: limit (default 100, at most 1000) and an opaque cursor', () => {
  const T = '2024-05-01T00:00:00.000Z';
  const pad = (i: number) => String(i).padStart(4, '0');
  beforeEach(() => {
    const rm = ports.readModels;
    rm.databases = Array.from({ length: 250 }, (_, i) => ({ name: `db${pad(i)}`, description: null, version: 1, created_at: T, updated_at: T }));
    rm.classes = Array.from({ length: 250 }, (_, i) => ({
      db_name: 'db0000',
      id: `C${pad(i)}`,
      label: 'C',
      description: null,
      parent_class: null,
      abstract: false,
      definition: {},
      version: 1,
      created_at: T,
      updated_at: T,
    }));
    rm.instances = [{ db_name: 'db0000', id: 'hub', class_id: 'C0000', properties: {}, relationships: {}, version: 1, created_at: T, updated_at: T }];
    rm.edges = [
      ...Array.from({ length: 150 }, (_, i) => ({ db_name: 'db0000', from_id: `p${pad(i)}`, predicate: 'knows', to_id: 'hub' })),
      ...Array.from({ length: 100 }, (_, i) => ({ db_name: 'db0000', from_id: 'hub', predicate: 'likes', to_id: `q${pad(i)}` })),
    ];
    ports.history.append({
      event_id: 'd0',
      event_type: 'DATABASE_CREATED',
      aggregate_type: 'database',
      aggregate_id: 'db0000',
      aggregate_version: 1,
      occurred_at: T,
      actor: 'a',
      command_id: 'c0',
      schema_version: 1,
      payload: { name: 'db0000' },
      metadata: {},
    } as never);
    for (let v = 1; v <= 250; v++) {
      ports.history.append({
        event_id: `e${v}`,
        event_type: 'INSTANCE_UPDATED',
        aggregate_type: 'instance',
        aggregate_id: 'db0000:hub',
        aggregate_version: v,
        occurred_at: T,
        actor: 'a',
        command_id: `c${v}`,
        schema_version: 1,
        payload: {},
        metadata: {},
      } as never);
    }
  });

  /** Follows next_cursor to the end; returns the pages' sizes and everything listed. */
  async function walk(path: string, itemsOf: (body: any) => unknown[]): Promise<{ sizes: number[]; all: unknown[] }> {
    const sizes: number[] = [];
    const all: unknown[] = [];
    let cursor: string | null = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const res = await request(app).get(`/api/v1${path}${cursor === null ? '' : `${sep}cursor=${encodeURIComponent(cursor)}`}`);
      expect(res.status).toBe(200);
      sizes.push(itemsOf(res.body).length);
      all.push(...itemsOf(res.body));
      cursor = res.body.next_cursor;
    } while (cursor !== null && sizes.length < 20);
    return { sizes, all };
  }

  test('databases', async () => {
    const { sizes, all } = await walk('/databases', (b) => b.items);
    expect(sizes).toEqual([100, 100, 50]);
    expect(all).toEqual(ports.readModels.databases);
    expect((await walk('/databases?limit=1000', (b) => b.items)).sizes).toEqual([250]);
  });

  test('classes', async () => {
    const { sizes, all } = await walk('/databases/db0000/classes?limit=120', (b) => b.items);
    expect(sizes).toEqual([120, 120, 10]);
    expect((all as Array<{ id: string }>).map((c) => c.id)).toEqual(ports.readModels.classes.map((c) => c.id));
  });

  test('relationships: incoming first, then outgoing, each edge once', async () => {
    const { sizes, all } = await walk('/databases/db0000/instances/hub/relationships', (b) => [...b.incoming, ...b.outgoing]);
    expect(sizes).toEqual([100, 100, 50]);
    expect(new Set(all.map((e) => JSON.stringify(e))).size).toBe(250);
    const second = await request(app).get(`/api/v1/databases/db0000/instances/hub/relationships?limit=100`);
    expect(second.body.outgoing).toEqual([]);
    expect(second.body.incoming).toHaveLength(100);
  });

  test('history: pages in version order, read from the store one page at a time', async () => {
    const { sizes, all } = await walk('/databases/db0000/instances/hub/history', (b) => b.items);
    expect(sizes).toEqual([100, 100, 50]);
    expect((all as Array<{ aggregate_version: number }>).map((e) => e.aggregate_version)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    // each request also reads the database's stream, whose current life names the instance's
    expect(ports.history.calls.filter((c) => c.aggregateType === 'instance').map((c) => [c.fromVersion, c.toVersion])).toEqual([
      [1, 101],
      [101, 201],
      [201, 301],
    ]);
  });

  test.each([
    ['/databases?limit=1001', 'limit'],
    ['/databases?limit=0', 'limit'],
    ['/databases?offset=5', ''],
    ['/databases/db0000/classes?limit=x', 'limit'],
    ['/databases/db0000/instances/hub/relationships?limit=1001', 'limit'],
    ['/databases/db0000/instances/hub/relationships?depth=1&cursor=abc', 'cursor'],
    ['/databases/db0000/instances/hub/history?limit=5000', 'limit'],
    ['/databases/db0000/instances/hub/history?cursor=bm90LWEtY3Vyc29y', 'cursor'],
    [`/databases/db0000/instances/hub/history?cursor=${Buffer.from('{"v":2147483647}').toString('base64url')}`, 'cursor'],
  ])('%s -> 400 INVALID_QUERY', async (path, param) => {
    const res = await request(app).get(`/api/v1${path}`);
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'INVALID_QUERY' });
    expect(res.body.errors?.[0]?.path ?? param).toBe(param);
  });

  test('the OpenAPI document states limit and cursor on every list and history operation', async () => {
    const doc = (await request(app).get('/api/v1/openapi.json')).body;
    const ops = [
      ['/api/v1/databases', 'DatabasePage'],
      ['/api/v1/databases/{db}/classes', 'ClassPage'],
      ['/api/v1/databases/{db}/classes/{classId}/instances', 'InstancePage'],
      ['/api/v1/databases/{db}/instances/{id}/relationships', 'Relationships'],
      ['/api/v1/databases/{db}/history', 'EventPage'],
      ['/api/v1/databases/{db}/classes/{classId}/history', 'EventPage'],
      ['/api/v1/databases/{db}/instances/{id}/history', 'EventPage'],
    ];
    for (const [path, schema] of ops) {
      const op = doc.paths[path].get;
      expect(op.parameters.filter((p: { in: string }) => p.in === 'query').map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['limit', 'cursor']));
      expect(op.responses['200'].content['application/json'].schema).toEqual({ $ref: `#/components/schemas/${schema}` });
      expect(doc.components.schemas[schema].properties.next_cursor).toBeDefined();
    }
  });
});

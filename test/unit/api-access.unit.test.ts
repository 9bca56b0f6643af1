/**
 * Access control over the real express app and in-memory ports. The matrix walks every operation
 * of the served OpenAPI document (generated from the route table, so a new route is in it) with
 * no key, a reader, a writer limited to another database and an admin; what each may do is
 * written here from the method and the path, not read from the routes' own declarations.
 */
import pino from 'pino';
import request from 'supertest';
import { ApiKeys } from '../../src/api/api-keys';
import { createApp } from '../../src/api/app';
import { inMemoryPorts, InMemoryApiKeyStore } from '../support/in-memory-ports';
import type { AccessLimits } from '../../src/api/auth';
import { FAILURE_DETAIL } from '../../src/ports/command-gateway';

const silent = pino({ level: 'silent' });
const T = '2024-05-01T10:00:00.000Z';

async function setUp(limits: Partial<AccessLimits> = {}) {
  const ports = inMemoryPorts({ access: { mode: 'on', limits } });
  const app = createApp(ports, silent, { healthTimeoutMs: 100 });
  const rm = ports.readModels;
  rm.databases = ['crm', 'other'].map((name) => ({ name, description: null, version: 1, created_at: T, updated_at: T }));
  rm.classes = [{ db_name: 'crm', id: 'Person', label: 'Person', description: null, parent_class: null, abstract: false, definition: {}, version: 1, created_at: T, updated_at: T }];
  rm.instances = [{ db_name: 'crm', id: 'ada', class_id: 'Person', properties: {}, relationships: {}, version: 1, created_at: T, updated_at: T }];
  const mint = async (name: string, role: 'reader' | 'writer' | 'admin', databases?: string[]) =>
    (await ports.access.keys.create({ name, role, ...(databases ? { databases } : {}), created_by: 'test' })).key;
  const keys = { reader: await mint('reader', 'reader'), writerOther: await mint('writer-other', 'writer', ['other']), admin: await mint('admin', 'admin') };
  return { ports, app, keys, mint };
}

type Caller = 'none' | 'reader' | 'writerOther' | 'admin';
const CALLERS: Caller[] = ['none', 'reader', 'writerOther', 'admin'];

const isPublic = (path: string) => /^(\/api\/v1)?\/health\//.test(path) || path === '/metrics' || path === '/api/v1/openapi.json';
const isAdmin = (path: string) => path.startsWith('/api/v1/admin/');

/** What each caller may do, from the method and the path alone. */
function allowed(caller: Caller, method: string, path: string): boolean {
  if (isPublic(path) || caller === 'admin') return true;
  if (caller === 'none' || isAdmin(path)) return false;
  if (caller === 'reader') return method === 'get';
  // A writer limited to 'other': every route about a database is about 'crm' here (the path's
  // {db}, the body of POST /databases, the database of the command); the list is filtered instead.
  return path === '/api/v1/databases' && method === 'get';
}

describe('every operation of the OpenAPI document, by caller', () => {
  let env: Awaited<ReturnType<typeof setUp>>;
  let commandId: string;
  let victimKeyId: string;
  let operations: Array<{ method: string; path: string; doc: { security?: unknown[]; 'x-required-role'?: string } }>;

  beforeAll(async () => {
    env = await setUp({ requestsPerWindow: 10_000 });
    commandId = (await env.ports.commands.submit({ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: 'crm', payload: {}, actor: 'x' })).command_id;
    await env.mint('victim', 'reader');
    victimKeyId = (await env.ports.access.keys.list()).find((k) => k.name === 'victim')!.key_id;
    const doc = (await request(env.app).get('/api/v1/openapi.json')).body as { paths: Record<string, Record<string, never>> };
    operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, d]) => ({ method, path, doc: d })));
  });

  test('the document declares the bearer scheme, and exactly the public operations opt out of it', async () => {
    const doc = (await request(env.app).get('/api/v1/openapi.json')).body;
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ apiKey: [] }]);
    for (const op of operations) expect([op.path, op.method, op.doc.security]).toEqual([op.path, op.method, isPublic(op.path) ? [] : undefined]);
    expect(operations.length).toBeGreaterThanOrEqual(30);
  });

  test.each(CALLERS)('caller %s', async (caller) => {
    const outcomes: string[] = [];
    for (const op of operations) {
      const url = op.path.replace('{db}', 'crm').replace('{classId}', 'Person').replace('{id}', 'ada').replace('{version}', '1').replace('{commandId}', commandId).replace('{keyId}', victimKeyId);
      const before = env.ports.commands.submitted.length;
      let req = request(env.app)[op.method as 'get'](url);
      if (caller !== 'none') req = req.set('Authorization', `Bearer ${env.keys[caller]}`);
      if (op.method === 'post' || op.method === 'put') req = req.set('Content-Type', 'application/json').send(op.path === '/api/v1/databases' ? { name: 'crm' } : {});
      const res = await req;
      const refused = res.status === 401 || res.status === 403;
      const expected = allowed(caller, op.method, op.path);
      outcomes.push(`${op.method.toUpperCase()} ${op.path} ${expected ? 'allowed' : 'refused'}: ${refused ? res.status : 'not refused'}`);
      if (expected) expect([op.method, op.path, res.status, res.body?.code]).not.toEqual([op.method, op.path, expect.any(Number), expect.stringMatching(/^(UNAUTHENTICATED|FORBIDDEN)$/)]);
      else {
        expect([op.method, op.path, res.status]).toEqual([op.method, op.path, caller === 'none' ? 401 : 403]);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(env.ports.commands.submitted.length).toBe(before);
      }
    }
    expect(outcomes.length).toBe(operations.length);
  });

  test('a writer limited to databases lists only those', async () => {
    const res = await request(env.app).get('/api/v1/databases').set('Authorization', `Bearer ${env.keys.writerOther}`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((d: { name: string }) => d.name)).toEqual(['other']);
  });
});

describe('identity', () => {
  test('the actor is the key, whatever X-Actor says', async () => {
    const { app, ports, mint } = await setUp();
    const alice = await mint('alice', 'writer');
    const res = await request(app).delete('/api/v1/databases/crm').set('Authorization', `Bearer ${alice}`).set('X-Actor', 'mallory');
    expect(res.status).toBe(202);
    expect(ports.commands.submitted.map((c) => c.actor)).toEqual(['key:alice']);
  });

  test('without a key a write is refused before its body is read, even one over the size limit', async () => {
    const { app } = await setUp();
    const res = await request(app)
      .post('/api/v1/databases')
      .set('Content-Type', 'application/json')
      .send(`{"name":"${'x'.repeat(2 * 1024 * 1024)}"}`);
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('UNAUTHENTICATED');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  test('a malformed or unknown key is 401', async () => {
    const { app, keys } = await setUp();
    for (const auth of ['Basic abc', `Bearer ${keys.admin.slice(0, -1)}x`, 'Bearer spk_000000000000_' + 'a'.repeat(43), `Bearer`]) {
      const res = await request(app).get('/api/v1/databases').set('Authorization', auth);
      expect([auth, res.status, res.body.code]).toEqual([auth, 401, 'UNAUTHENTICATED']);
    }
  });

  test('admins create keys (shown once), list them (never the secret) and revoke them', async () => {
    const { app, keys } = await setUp();
    const admin = { Authorization: `Bearer ${keys.admin}` };
    const created = await request(app)
      .post('/api/v1/admin/keys')
      .set(admin)
      .send({ name: 'ci', role: 'writer', databases: ['crm'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'ci', role: 'writer', databases: ['crm'], created_by: 'key:admin', revoked_at: null });
    expect(created.body.key).toMatch(/^spk_[0-9a-f]{12}_/);
    const again = await request(app).post('/api/v1/admin/keys').set(admin).send({ name: 'ci', role: 'reader' });
    expect([again.status, again.body.code]).toEqual([409, 'API_KEY_EXISTS']);
    const list = await request(app).get('/api/v1/admin/keys').set(admin);
    expect(list.text).not.toContain(created.body.key.slice(17));
    expect(list.body.items.map((k: { name: string }) => k.name)).toContain('ci');
    const ci = { Authorization: `Bearer ${created.body.key}` };
    expect((await request(app).get('/api/v1/databases/crm').set(ci)).status).toBe(200);
    expect((await request(app).delete(`/api/v1/admin/keys/${created.body.key_id}`).set(admin)).body.revoked_at).toEqual(expect.any(String));
    expect((await request(app).get('/api/v1/databases/crm').set(ci)).status).toBe(401);
    expect((await request(app).delete('/api/v1/admin/keys/000000000000').set(admin)).body.code).toBe('API_KEY_NOT_FOUND');
  });

  test('only admins see what the dependencies said about a failed command', async () => {
    const { app, ports, keys } = await setUp();
    const { command_id } = await ports.commands.submit({ command_type: 'DELETE_DATABASE', payload: { name: 'crm' }, actor: 'x' });
    const view = ports.commands.fail(command_id, { code: 'DEPENDENCY_FAILED', message: 'a service failed', details: [] });
    view[FAILURE_DETAIL] = { error: 'connect ECONNREFUSED 10.0.0.7:5432' };
    const asAdmin = await request(app).get(`/api/v1/commands/${command_id}`).set('Authorization', `Bearer ${keys.admin}`);
    expect(asAdmin.body.failure_detail).toEqual({ error: 'connect ECONNREFUSED 10.0.0.7:5432' });
    const asReader = await request(app).get(`/api/v1/commands/${command_id}`).set('Authorization', `Bearer ${keys.reader}`);
    expect(asReader.status).toBe(200);
    expect(asReader.text).not.toContain('ECONNREFUSED');
  });
});

describe('limits per key', () => {
  test('the request rate answers 429 with Retry-After, per key', async () => {
    const { app, keys } = await setUp({ requestsPerWindow: 3, windowS: 60 });
    const get = (key: string) => request(app).get('/api/v1/databases').set('Authorization', `Bearer ${key}`);
    for (let i = 0; i < 3; i++) expect((await get(keys.reader)).status).toBe(200);
    const limited = await get(keys.reader);
    expect([limited.status, limited.body.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((await get(keys.admin)).status).toBe(200);
  });

  test('bulk requests have their own limit', async () => {
    const { app, ports, keys } = await setUp({ bulkPerWindow: 1 });
    const auth = { Authorization: `Bearer ${keys.admin}` };
    const bulk = () =>
      request(app)
        .post('/api/v1/databases/crm/classes/Person/instances:bulk')
        .set(auth)
        .send({ instances: [{ id: 'a', properties: {} }] });
    expect((await bulk()).status).toBe(202);
    const second = await bulk();
    expect([second.status, second.body.code]).toEqual([429, 'RATE_LIMITED']);
    expect((await request(app).delete('/api/v1/databases/crm/classes/Person/instances/ada').set(auth)).status).toBe(202);
    expect(ports.commands.submitted.map((c) => c.command_type)).toEqual(['BULK_CREATE_INSTANCES', 'DELETE_INSTANCE']);
  });

  test('commands in flight are limited per key until they finish', async () => {
    const { app, ports, keys } = await setUp({ maxInflightCommands: 2 });
    const del = () => request(app).delete('/api/v1/databases/crm').set('Authorization', `Bearer ${keys.admin}`);
    expect((await del()).status).toBe(202);
    expect((await del()).status).toBe(202);
    const third = await del();
    expect([third.status, third.body.code, third.headers['retry-after']]).toEqual([429, 'TOO_MANY_COMMANDS', '1']);
    ports.commands.complete('cmd-1');
    await new Promise((r) => setTimeout(r, 1100));
    expect((await del()).status).toBe(202);
  });
});

test('a key revoked elsewhere stops within the cache time (API_KEY_CACHE_MS) and not before', async () => {
  let now = 0;
  const store = new InMemoryApiKeyStore();
  const keys = new ApiKeys({ store, secret: 'x'.repeat(20), cacheMs: 5000, now: () => now });
  const { key, record } = await keys.create({ name: 'k', role: 'reader', created_by: 't' });
  expect(await keys.authenticate(key)).toMatchObject({ name: 'k', role: 'reader', actor: 'key:k' });
  await store.revoke(record.key_id); // another API process revoked it
  now = 4999;
  expect(await keys.authenticate(key)).not.toBeNull();
  now = 5000;
  expect(await keys.authenticate(key)).toBeNull();
});

test('keys are stored as an HMAC, never in clear', async () => {
  const store = new InMemoryApiKeyStore();
  const keys = new ApiKeys({ store, secret: 'x'.repeat(20), cacheMs: 0 });
  const { key, record } = await keys.create({ name: 'k', role: 'admin', created_by: 't' });
  const row = store.rows.get(record.key_id)!;
  expect(JSON.stringify(row)).not.toContain(key.slice(17));
  expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
});

test('a burst of requests with one unchecked key asks the store once', async () => {
  const store = new InMemoryApiKeyStore();
  const keys = new ApiKeys({ store, secret: 'x'.repeat(20), cacheMs: 5000 });
  const { key } = await keys.create({ name: 'k', role: 'reader', created_by: 't' });
  const find = jest.spyOn(store, 'find');
  const principals = await Promise.all(Array.from({ length: 50 }, () => keys.authenticate(key)));
  expect(principals.every((x) => x?.name === 'k')).toBe(true);
  expect(find).toHaveBeenCalledTimes(1);
});

test('a key store that fails is 503 NOT_READY with Retry-After, not a 500', async () => {
  const { app, ports, keys } = await setUp();
  jest.spyOn((ports.access.keys as unknown as { o: { store: InMemoryApiKeyStore } }).o.store, 'find').mockRejectedValue(new Error('connect ECONNREFUSED 10.0.0.7:5432'));
  const res = await request(app).get('/api/v1/databases').set('Authorization', `Bearer ${keys.reader}`);
  expect([res.status, res.body.code, res.headers['retry-after']]).toEqual([503, 'NOT_READY', '1']);
  expect(res.text).not.toContain('ECONNREFUSED');
});

/**
 * The OpenAPI document's examples are true: each command's example body is accepted by the API
 * (the in-memory gateway records the command), and each problem code has an example with its status.
 */
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { statusOfCode } from '../../src/api/problem';
import { inMemoryPorts, type InMemoryPorts } from '../support/in-memory-ports';

let ports: InMemoryPorts;
let app: ReturnType<typeof createApp>;
let doc: any;

beforeAll(async () => {
  ports = inMemoryPorts();
  app = createApp(ports, pino({ level: 'silent' }));
  doc = (await request(app).get('/api/v1/openapi.json')).body;
});

const fill = (path: string) =>
  path
    .replace('{db}', 'library')
    .replace(/\{(cls|classId)\}/, 'Person')
    .replace(/\{[A-Za-z_]+\}/g, 'ada');

test('every command with a body has an example, and the API accepts it', async () => {
  const withBodies = Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([, op]) => op.requestBody && op['x-command-type'])
      .map(([method, op]) => ({ path, method, op })),
  );
  expect(withBodies.map((o) => o.op['x-command-type']).sort()).toEqual([
    'BULK_CREATE_INSTANCES',
    'CREATE_DATABASE',
    'CREATE_INSTANCE',
    'CREATE_ONTOLOGY_CLASS',
    'UPDATE_INSTANCE',
    'UPDATE_ONTOLOGY_CLASS',
  ]);
  for (const { path, method, op } of withBodies) {
    const examples = Object.values(op.requestBody.content['application/json'].examples ?? {}) as { value: unknown }[];
    expect(examples).toHaveLength(1);
    const res = await (request(app) as any)[method](fill(path)).set('content-type', 'application/json').send(examples[0].value);
    expect({ path, status: res.status, body: res.body }).toEqual({ path, status: 202, body: expect.objectContaining({ command_id: expect.any(String) }) });
  }
});

test('every problem code has an example answer with its status, offered by every operation', () => {
  const examples = doc.components.examples as Record<string, { value: { code: string; status: number } }>;
  const codes = Object.values(examples).map((e) => e.value.code);
  for (const code of ['VALIDATION_FAILED', 'INSTANCE_EXISTS', 'VERSION_CONFLICT', 'UNSTORABLE_STRING', 'PAYLOAD_TOO_LARGE', 'NOT_READY']) expect(codes).toContain(code);
  for (const e of Object.values(examples)) expect(e.value.status).toBe(statusOfCode(e.value.code));
  const op = doc.paths['/api/v1/databases'].post;
  expect(Object.keys(op.responses.default.content['application/problem+json'].examples).sort()).toEqual([...codes].sort());
});

test('the documentation page is public on purpose (it holds no data) while the API behind it needs a key', async () => {
  const guarded = createApp(inMemoryPorts({ access: { mode: 'on' } }), pino({ level: 'silent' }));
  const page = await request(guarded).get('/api/v1/docs');
  expect(page.status).toBe(200);
  expect(page.text).toContain('/api/v1/docs/assets/swagger-ui-bundle.js');
  expect((await request(guarded).get('/api/v1/docs/assets/swagger-ui-bundle.js')).status).toBe(200);
  expect((await request(guarded).get('/api/v1/docs/assets/swagger-ui.js.map')).status).toBe(404);
  expect((await request(guarded).get('/api/v1/databases')).status).toBe(401);
});

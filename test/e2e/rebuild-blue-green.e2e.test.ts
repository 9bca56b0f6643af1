/**
 * Blue/green rebuild of the read models: the rebuild fills a new schema while the live one keeps
 * serving and taking new events, catches up with the live tail, then takes the live name in one
 * transaction; the old schema is dropped after the grace period. Readers never get an error and
 * never see an instance go back to an older version, before, during or after the switch.
 */
import { sendJson } from '../support/http';
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually, scaled } from '../support/env';

let p: Pipeline;
const db = 'bluegreen';
const INSTANCES = scaled(3000, 100_000);
const BULK = 1000;
const HOT = ['w0', 'w1', 'w2', 'w3'];

const send = (method: string, path: string, body?: unknown) => sendJson(p.url, method, path, body, { prefer: 'wait=30' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  p = await startPipeline('e2e-bluegreen');
  expect((await send('POST', '/databases', { name: db })).status).toBe(201);
  expect((await send('POST', `/databases/${db}/classes`, { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] })).status).toBe(201);
  for (let i = 0; i < INSTANCES; i += BULK) {
    const instances = Array.from({ length: Math.min(BULK, INSTANCES - i) }, (_, k) => ({ id: `b${i + k}`, properties: { n: i + k } }));
    expect([201, 202]).toContain((await send('POST', `/databases/${db}/classes/Item/instances:bulk`, { instances })).status);
  }
  const live = p.api.infra.readModelSchema;
  await eventually(
    async () => (await p.api.infra.pool.query(`SELECT count(*)::int AS n FROM ${live}.instances`)).rows[0].n,
    (n) => n === INSTANCES,
    120_000,
    500,
  );
  for (const id of HOT) expect((await send('POST', `/databases/${db}/classes/Item/instances`, { id, properties: { n: 0 } })).status).toBe(201);
});
afterAll(async () => {
  await p?.close();
});

test('reads during a blue/green rebuild never fail and never go backwards; the rebuilt schema takes over and the old one is dropped', async () => {
  const pool = p.api.infra.pool;
  const live = p.api.infra.readModelSchema;
  const oidOf = async (schema: string) => (await pool.query<{ oid: string }>(`SELECT oid::text FROM pg_namespace WHERE nspname = $1`, [schema])).rows[0]?.oid;
  const liveBefore = await oidOf(live);
  const target = `${live}_bg`;

  let running = true;
  const failures: string[] = [];
  const highest = new Map<string, number>(); // over both readers, for the check after the switch
  let reads = 0;
  let writes = 0;
  // Each reader is one client reading one after another: its own reads must never go backwards. (A map
  // shared by the two readers flagged a race of the test: a read answered from before a commit could
  // be checked after the other reader's read from after it, though neither client saw a step back.)
  const reader = async () => {
    const lastVersion = new Map<string, number>();
    while (running) {
      for (const id of HOT) {
        const r = await sendJson(p.url, 'GET', `/databases/${db}/instances/${id}`);
        reads++;
        if (r.status !== 200) failures.push(`GET ${id}: ${r.status} ${r.text.slice(0, 200)}`);
        const v = (r.body as { version?: number }).version ?? 0;
        if (v < (lastVersion.get(id) ?? 0)) failures.push(`GET ${id}: version ${v} after ${lastVersion.get(id)}`);
        lastVersion.set(id, Math.max(v, lastVersion.get(id) ?? 0));
        highest.set(id, Math.max(v, highest.get(id) ?? 0));
      }
      const page = await sendJson(p.url, 'GET', `/databases/${db}/classes/Item/instances?limit=100`);
      reads++;
      if (page.status !== 200 || (page.body as { items?: unknown[] }).items?.length !== 100) failures.push(`list: ${page.status} ${page.text.slice(0, 200)}`);
    }
  };
  // Commands keep changing the live models while the rebuild runs (and while it switches).
  const writer = async () => {
    for (let round = 1; running; round++) {
      for (const id of HOT) {
        const r = await send('PUT', `/databases/${db}/classes/Item/instances/${id}`, { properties: { n: round } });
        if (r.status !== 200) failures.push(`PUT ${id}: ${r.status} ${r.text.slice(0, 200)}`);
        writes++;
      }
    }
  };
  const load = [reader(), reader(), writer()];
  await sleep(500);
  const outcome = (await p.client.workflow.execute('rebuildReadModels', {
    taskQueue: p.taskQueue,
    workflowId: `rebuild-${target}`,
    args: [{ target_schema: target, chunk_size: 200, switch: { mode: 'if_equal', grace_seconds: 3 } }],
  })) as { equal: boolean; switched: boolean; retired_schema?: string; caught_up: { streams: number } };
  await sleep(500);
  running = false;
  await Promise.all(load);

  expect(failures).toEqual([]);
  expect(reads).toBeGreaterThan(20);
  expect(writes).toBeGreaterThan(4);
  // Compared with the live models held still, right before the switch: equal, so it switched.
  expect(outcome).toMatchObject({ equal: true, switched: true, retired_schema: `${target}_retired` });
  // The live name now holds the rebuilt tables; the rebuilt name is gone, and so is the old schema after its grace.
  expect(await oidOf(live)).not.toBe(liveBefore);
  expect(await oidOf(target)).toBeUndefined();
  expect(await oidOf(`${target}_retired`)).toBeUndefined();
  const count = async () => (await pool.query(`SELECT count(*)::int AS n FROM ${live}.instances WHERE NOT deleted`)).rows[0].n;
  expect(await count()).toBe(INSTANCES + HOT.length);

  // The projection writes into the new tables: a command after the switch is read back at its version.
  // Read now: the writer's last PUT of w0 may have landed after the readers' last GET of it.
  const before = (await sendJson(p.url, 'GET', `/databases/${db}/instances/w0`)).body.version as number;
  expect(before).toBeGreaterThanOrEqual(highest.get('w0')!);
  expect((await send('PUT', `/databases/${db}/classes/Item/instances/w0`, { properties: { n: -1 } })).status).toBe(200);
  const after = await sendJson(p.url, 'GET', `/databases/${db}/instances/w0`);
  expect(after.body).toMatchObject({ version: before + 1, properties: { n: -1 } });
});

test('a rebuild that differs from the live models is not switched with if_equal, and the live schema stays', async () => {
  const pool = p.api.infra.pool;
  const live = p.api.infra.readModelSchema;
  // A row only the live models have: the rebuild from the events cannot have it.
  await pool.query(`UPDATE ${live}.instances SET properties = '{"n": 4242}' WHERE db_name = $1 AND instance_id = 'b1'`, [db]);
  const liveBefore = (await pool.query(`SELECT oid::text FROM pg_namespace WHERE nspname = $1`, [live])).rows[0].oid;
  const target = `${live}_bg2`;
  const outcome = await p.client.workflow.execute('rebuildReadModels', {
    taskQueue: p.taskQueue,
    workflowId: `rebuild-${target}`,
    args: [{ target_schema: target, chunk_size: 500, switch: { mode: 'if_equal', grace_seconds: 1 } }],
  });
  expect(outcome).toMatchObject({ equal: false, switched: false, differences: [{ table: 'instances', different: 1 }] });
  expect((await pool.query(`SELECT oid::text FROM pg_namespace WHERE nspname = $1`, [live])).rows[0].oid).toBe(liveBefore);
  expect((await pool.query(`SELECT properties FROM ${live}.instances WHERE db_name = $1 AND instance_id = 'b1'`, [db])).rows[0].properties).toEqual({ n: 4242 });
  await p.api.infra.ownerPool.query(`DROP SCHEMA ${target} CASCADE`);
});

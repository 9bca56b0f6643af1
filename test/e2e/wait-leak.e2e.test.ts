/**
 * ?wait must not outlive its request. The command here can never finish (its workflow sits on a
 * task queue that no worker polls), so every wait times out; a wait that left its history poll or
 * its progress query behind would pile up gRPC calls, handles and heap in the API process.
 */
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Client, Connection } from '@temporalio/client';
import { startApi, type RunningApi } from '../../src/app/api-server';
import { workflowIdOf } from '../../src/contracts/workflows';
import { testConfig, uniqueName } from '../support/env';
import { bearer } from '../support/http';

// The API runs in this process, so its handles and heap are ours to count; gc without a node flag.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const WAITS = Number(process.env.WAIT_LEAK_WAITS ?? 1000);
const CONCURRENCY = 25;
const WAIT_MS = 200;

let api: RunningApi;
let url: string;
let auth: Record<string, string>;
let schema: string;
let stuckCommandId: string | undefined;

beforeAll(async () => {
  const id = uniqueName('e2e-wait');
  schema = id.replace(/-/g, '_');
  api = await startApi({ ...testConfig, API_WAIT_MAX_MS: WAIT_MS }, { schema, readModelSchema: `${schema}_rm`, s3Prefix: `${id}/`, topic: id, port: 0, taskQueue: `${id}-no-worker` });
  url = `${api.url}/api/v1`;
  auth = bearer((await api.keys.create({ name: `${id}-writer`, role: 'writer', created_by: 'test' })).key);
});

afterAll(async () => {
  if (!api) return;
  if (stuckCommandId !== undefined) {
    // Nothing would ever close it: a run left open forever is litter in the shared Temporal server.
    const connection = await Connection.connect({ address: testConfig.temporalAddress });
    const client = new Client({ connection, namespace: testConfig.TEMPORAL_NAMESPACE });
    await client.workflow
      .getHandle(workflowIdOf(stuckCommandId))
      .terminate('test done')
      .catch(() => undefined);
    await connection.close();
  }
  await api.infra.ownerPool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_rm CASCADE`).catch(() => undefined);
  await api.close();
});

const body = JSON.stringify({ name: 'stuck', description: 'never processed' });

/** One request per connection (no keep-alive pool), so the sockets counted are the API's own. */
function send(key: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/databases?wait=true`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'idempotency-key': key, ...auth } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function waitMany(key: string, n: number): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        next++;
        const res = await send(key);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

interface Footprint {
  handles: number;
  resources: Record<string, number>;
  heapUsed: number;
}

async function footprint(): Promise<Footprint> {
  // Let finished calls settle (sockets closed, timers fired) before counting what is left.
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 300));
    gc();
  }
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  return { handles: (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length, resources, heapUsed: process.memoryUsage().heapUsed };
}

test(`${WAITS} timed-out waits on a stuck command leave the API's handles, resources and heap flat`, async () => {
  const key = uniqueName('stuck');
  // Warm-up: connections, pools and JIT reach their steady state before the baseline is taken.
  expect([...(await waitMany(key, 2 * CONCURRENCY)).keys()]).toEqual([202]);
  const before = await footprint();

  const statuses = await waitMany(key, WAITS);
  // Every wait timed out on a command that is still pending: 202, never an error.
  expect(Object.fromEntries(statuses)).toEqual({ 202: WAITS });
  const { command_id } = (await send(key)).json as { command_id: string };
  stuckCommandId = command_id;
  const status = (await (await fetch(`${url}/commands/${command_id}`, { headers: auth })).json()) as { status: string };
  expect(status.status).toBe('PENDING');

  const after = await footprint();
  const grown = Object.entries(after.resources).filter(([type, n]) => n > (before.resources[type] ?? 0) + 5);
  process.stdout.write(
    `wait-leak: ${WAITS} waits; handles ${before.handles} -> ${after.handles}; heap ${(before.heapUsed / 2 ** 20).toFixed(1)} -> ${(after.heapUsed / 2 ** 20).toFixed(1)} MiB; resources ${JSON.stringify(before.resources)} -> ${JSON.stringify(after.resources)}\n`,
  );
  expect(after.handles).toBeLessThanOrEqual(before.handles + 5);
  expect(grown).toEqual([]);
  // A leaked poll holds its call, its stream and its closures: 1,000 of them are far above this.
  expect(after.heapUsed - before.heapUsed).toBeLessThan(8 * 2 ** 20);
}, 600_000);

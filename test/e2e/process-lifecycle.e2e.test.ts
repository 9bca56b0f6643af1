/**
 * Processes that tell the truth about starting and stopping (issue 17, items 5 and 6), on the real
 * entries as separate OS processes: a port another program holds or a service that does not answer
 * ends the start with exit code 1 and one line naming the setting; `npm start`'s supervisor then
 * stops its other child and leaves none behind; SIGTERM under load loses no accepted command and
 * answers no request that came before it with a 5xx.
 */
import net from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { testConfig, uniqueName, eventually } from '../support/env';
import { spawnApiProcess, spawnTs, type ApiProcessSpec, type SpawnedProcess } from '../support/api-process';
import { workflowBundle } from '../support/pipeline';
import { connectInfrastructure } from '../../src/app/composition';
import { createCommandWorker } from '../../src/app/command-worker';
import { commandIdForKey } from '../../src/app/command-gateway';

const spawned: SpawnedProcess[] = [];
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
afterAll(async () => {
  for (const p of spawned) p.kill();
  sockets.forEach((s) => s.destroy());
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** A program of someone else's on a free port: it takes connections and never answers. */
async function occupiedPort(): Promise<number> {
  const server = net.createServer((s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return (server.address() as net.AddressInfo).port;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

function specOf(name: string): ApiProcessSpec {
  const id = uniqueName(name);
  const schema = id.replace(/-/g, '_');
  return { schema, readModelSchema: `${schema}_rm`, s3Prefix: `${id}/`, topic: id, taskQueue: id };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('start-up', () => {
  it('an API whose port another program holds exits 1 with one line naming the port and API_PORT', async () => {
    const port = await occupiedPort();
    const api = spawnApiProcess(specOf('port-taken'), { API_PORT: String(port), SEARCH_ENGINE: 'postgres' });
    spawned.push(api);
    expect(await api.exited(60_000)).toBe(1);
    expect(api.stdout()).not.toContain('api listening');
    expect(lines(api.stderr())).toEqual([`api: cannot listen on 127.0.0.1:${port} (the port is in use by another program); set API_PORT to a free port`]);
  });

  it('a worker whose metrics port is taken exits 1 naming WORKER_METRICS_PORT', async () => {
    const port = await occupiedPort();
    const worker = spawnTs('worker.ts', { WORKER_METRICS_PORT: String(port), TEMPORAL_TASK_QUEUE: uniqueName('metrics-taken') });
    spawned.push(worker);
    expect(await worker.exited(60_000)).toBe(1);
    expect(lines(worker.stderr())).toEqual([`worker: cannot listen on ${testConfig.WORKER_METRICS_BIND_HOST}:${port} (the port is in use by another program); set WORKER_METRICS_PORT to a free port`]);
  });

  it('a required service that never answers ends the start within STARTUP_TIMEOUT_S, naming it and its setting', async () => {
    const silent = await occupiedPort();
    const started = Date.now();
    const api = spawnApiProcess(specOf('pg-silent'), {
      API_PORT: String(await freePort()),
      DATABASE_URL: `postgres://spice:spice@127.0.0.1:${silent}/spice_oms`,
      STARTUP_TIMEOUT_S: '2',
      SEARCH_ENGINE: 'postgres',
    });
    spawned.push(api);
    expect(await api.exited(30_000)).toBe(1);
    // The process's own start (tsx, imports) takes seconds on a loaded machine; without the bound it never ended.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(lines(api.stderr())).toEqual([
      `api: cannot reach PostgreSQL at 127.0.0.1:${silent} within 2000 ms; check DATABASE_URL, DATABASE_OWNER_URL (or SPICE_HOST, PG_PORT) (STARTUP_TIMEOUT_S sets the bound)`,
    ]);
  });

  it('npm start with the API port taken exits non-zero and leaves none of its children behind', async () => {
    const port = await occupiedPort();
    const start = spawnTs('scripts/start.ts', { API_PORT: String(port), TEMPORAL_TASK_QUEUE: uniqueName('start-taken'), KAFKA_TOPIC: uniqueName('start-taken') });
    spawned.push(start);
    const code = await start.exited(90_000);
    expect(code).not.toBe(0);
    const pids = [...start.stdout().matchAll(/(\w+)\s*\| started \(pid (\d+)\)/g)].map((m) => ({ name: m[1], pid: Number(m[2]) }));
    expect(pids.map((p) => p.name)).toEqual(expect.arrayContaining(['worker', 'api']));
    expect(start.stdout()).toContain(`cannot listen on 127.0.0.1:${port}`);
    expect(pids.filter((p) => alive(p.pid))).toEqual([]);
  });
});

interface Outcome {
  sentAt: number;
  status?: number;
  body?: any;
  contentType?: string;
  error?: string;
}

describe('graceful shutdown', () => {
  // The waits in hand are answered at once on the signal (with the command's status as it stands):
  // with the embedded worker the API's client is on its NativeConnection, which ignores abort
  // signals, and the waits used to run on to the server's 20 s long-poll expiry, past the grace
  // (test/int/command-wait.int.test.ts).
  it('SIGTERM under load: readiness turns 503, later requests get 503 SHUTTING_DOWN, earlier ones no 5xx, every accepted command completes', async () => {
    const spec = specOf('sigterm');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const auth = { authorization: `Bearer ${testConfig.API_DEV_KEY}`, 'content-type': 'application/json' };
    const api = spawnApiProcess(spec, {
      API_PORT: String(port),
      API_EMBEDDED_WORKER: 'true',
      SHUTDOWN_GRACE_MS: '8000',
      WORKER_SHUTDOWN_GRACE_S: '5',
      SEARCH_ENGINE: 'postgres',
      API_RATE_LIMIT: '100000',
      API_MAX_INFLIGHT_COMMANDS: '100000',
    });
    spawned.push(api);
    await api.printed('api listening', 120_000);

    const outcomes: Outcome[] = [];
    const send = async (name: string, prefer = 'wait=5', into = outcomes, key?: string) => {
      const o: Outcome = { sentAt: Date.now() };
      into.push(o);
      try {
        const res = await fetch(`${base}/api/v1/databases`, { method: 'POST', headers: { ...auth, prefer, ...(key ? { 'idempotency-key': key } : {}) }, body: JSON.stringify({ name }) });
        o.status = res.status;
        o.contentType = res.headers.get('content-type') ?? undefined;
        o.body = await res.json();
      } catch (err) {
        o.error = String((err as Error).cause ?? err);
      }
    };
    // A request whose headers arrived before the signal and whose body comes after: in hand while the server drains.
    // Raw socket: the headers surely reach the server (which then counts the request as in hand) before the body does.
    const body = JSON.stringify({ name: 'sd-slow' });
    const socket = net.connect(port, '127.0.0.1');
    let raw = '';
    socket.on('data', (c: Buffer) => (raw += c.toString()));
    const slowEnded = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(
      `POST /api/v1/databases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 5)}`,
    );
    const releaseSlowBody = () => socket.write(body.slice(5));
    const load: Promise<void>[] = [];
    let n = 0;
    const until = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        load.push(send(`sd${n++}`));
        await new Promise((r) => setTimeout(r, 80));
      }
    };
    // Requests known to have arrived: the server started their commands (seen in Temporal) before the signal.
    const arrived: Outcome[] = [];
    const keys = Array.from({ length: 10 }, (_, i) => `${spec.taskQueue}-arrived${i}`);
    const arriving = keys.map((key, i) => send(`sd-arrived${i}`, 'wait=30', arrived, key));
    const temporal = await Connection.connect({ address: testConfig.temporalAddress });
    const client = new Client({ connection: temporal, namespace: testConfig.TEMPORAL_NAMESPACE });
    // Started (described by Temporal) or already answered: either way the server has them.
    await Promise.all(
      keys.map((key, i) =>
        eventually(
          async () =>
            arrived[i]?.status !== undefined ||
            (await client.workflow
              .getHandle(`command-${commandIdForKey(key)}`)
              .describe()
              .then(
                () => true,
                () => false,
              )),
          (there) => there,
          60_000,
          200,
        ),
      ),
    );
    await until(1500);
    const signalAt = Date.now();
    api.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const ready = await fetch(`${base}/health/ready`);
    await until(1000);
    releaseSlowBody();
    await Promise.all([...load, ...arriving]);
    await slowEnded;
    const slowStatus = Number(/^HTTP\/1\.1 (\d+)/.exec(raw)?.[1]);
    const slowCommand = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).command_id as string;
    const code = await api.exited(60_000);
    const stoppedAfterMs = Date.now() - signalAt;

    expect(code).toBe(0);
    expect(api.stderr()).not.toMatch(/Not running|Error/);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as any).code).toBe('NOT_READY');
    expect([201, 202]).toContain(slowStatus);
    // Every request that reached the server before the signal is answered, and never with a 5xx.
    for (const o of arrived)
      expect({
        status: o.status,
        error: o.error,
        t: o.sentAt - signalAt,
        log: o.error
          ? api
              .stdout()
              .split('\n')
              .filter((l) => /shutting|still in hand|stopped/.test(l))
          : [],
      }).toEqual({ status: expect.any(Number), error: undefined, t: expect.any(Number), log: [] });
    expect(arrived.filter((o) => ![201, 202].includes(o.status!))).toEqual([]);
    // The rest were sent around the signal: accepted, refused with SHUTTING_DOWN, or (once the
    // listener has closed, or for a connection the close met before its request was read) not connected.
    const refused = outcomes.filter((o) => o.status === 503);
    expect(refused.filter((o) => o.sentAt > signalAt).length).toBeGreaterThan(0);
    for (const o of refused) {
      expect(o.contentType).toContain('application/problem+json');
      expect(o.body.code).toBe('SHUTTING_DOWN');
    }
    for (const o of outcomes.filter((a) => ![201, 202, 503].includes(a.status ?? 0))) expect(o.error).toMatch(/ECONNREFUSED|ECONNRESET|SocketError|other side closed/);
    expect(stoppedAfterMs).toBeLessThan(8000 + 15_000);

    // Every accepted command completes once a worker serves the queue again: stored, delivered, projected.
    const accepted = [...[...arrived, ...outcomes].filter((o) => o.status === 201 || o.status === 202).map((o) => o.body.command_id as string), slowCommand];
    const infra = await connectInfrastructure(testConfig, spec);
    const nativeConnection = await NativeConnection.connect({ address: testConfig.temporalAddress });
    const worker = await createCommandWorker({
      connection: nativeConnection,
      namespace: testConfig.TEMPORAL_NAMESPACE,
      taskQueue: spec.taskQueue,
      deps: infra.activityDeps(),
      rebuild: infra.rebuildDeps(),
      reconcile: infra.reconcileDeps(),
      workflowBundle: await workflowBundle(),
    });
    await infra.relay.start();
    const running = worker.run();
    try {
      await Promise.all(accepted.map((id) => client.workflow.getHandle(`command-${id}`).result()));
      const ledger = await eventually(
        async () => (await infra.pool.query(`SELECT command_id, status FROM ${spec.schema}.delivery_ledger WHERE command_id = ANY($1)`, [accepted])).rows,
        (rows) => rows.length === accepted.length && rows.every((r) => r.status === 'delivered'),
      );
      expect(new Set(ledger.map((r) => r.command_id))).toEqual(new Set(accepted));
      const projected = await eventually(
        async () => Number((await infra.pool.query(`SELECT count(*) AS n FROM ${spec.readModelSchema}.databases`)).rows[0].n),
        (count) => count === accepted.length,
      );
      expect(projected).toBe(accepted.length);
    } finally {
      worker.shutdown();
      await running.catch(() => undefined);
      await nativeConnection.close();
      await temporal.close();
      await infra.ownerPool.query(`DROP SCHEMA IF EXISTS ${spec.schema} CASCADE; DROP SCHEMA IF EXISTS ${spec.readModelSchema} CASCADE`).catch(() => undefined);
      await infra.close();
    }
  }, 240_000);
});

/**
 * Read-path benchmark (not a test): `npx tsx bench/read-path.ts [--quick] [--measure 10] [--levels 1,16]`.
 *
 * Starts the shipped API and worker on a database and bucket of its own, seeds a tree through the
 * REST API (one root, 10 + 100 inner nodes, 1,000 leaves; `children` edges, so a traversal of depth
 * 3 from the root reaches all 1,111 instances), waits until the read models and OpenSearch hold it,
 * then runs each read with closed-loop clients for the measured window:
 *   get       GET /databases/{db}/instances/{leaf}                 (a random leaf)
 *   list      GET /databases/{db}/classes/Leaf/instances?limit=1000 (one page of all 1,000 leaves)
 *   traverse  GET /databases/{db}/instances/root/relationships?depth=3
 *   search    GET /databases/{db}/search?q={word}                   (OpenSearch, first page of 20)
 * Reports p50/p99 latency, requests/s and the API's CPU and peak RSS per read and level; results in
 * bench/results/<run>-read.json and .md. Every answer is checked (status, item counts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import { createS3Client } from '../src/adapters/s3/s3-client';
import { dropRunResources } from './lib/cleanup';
import { benchAuth, json } from './lib/clients';
import { BUCKET, S3_ROOT, PG_DB, QUICK, RESULTS, RUN, base, now, opt, sleep } from './lib/options';
import { freePort, startChild, stopChild, waitHttp, type Child } from './lib/processes';
import { ProcMonitor } from './lib/procstats';
import { pct } from './lib/stats';
import { temporalConnectionOptions } from '../src/app/temporal-connection';
import { deleteReconcileSchedule } from '../src/app/reconcile-schedule';

const MEASURE_S = Number(opt('measure') ?? (QUICK ? 3 : 10));
const LEVELS = (opt('levels') ?? '1,16').split(',').map(Number);
const DB = 'reads';
const FANOUT = 10;
const LEAVES = FANOUT ** 3;
const WORDS = ['ada', 'grace', 'alan', 'edsger', 'barbara', 'donald', 'john', 'frances'];

interface Read {
  name: string;
  what: string;
  /** One request; throws when the answer is not the expected one. */
  once(v1: string, n: number): Promise<void>;
}

async function getOk(url: string, check: (body: any) => boolean): Promise<void> {
  const res = await fetch(url, { headers: benchAuth });
  const body = await json(res);
  if (res.status !== 200 || !check(body)) throw new Error(`${url}: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
}

const READS: Read[] = [
  {
    name: 'get',
    what: 'GET one instance',
    once: (v1, n) => getOk(`${v1}/databases/${DB}/instances/leaf-${n % LEAVES}`, (b) => b.id === `leaf-${n % LEAVES}`),
  },
  {
    name: 'list',
    what: `list ${LEAVES} instances (one page)`,
    once: (v1) => getOk(`${v1}/databases/${DB}/classes/Leaf/instances?limit=${LEAVES}`, (b) => b.items?.length === LEAVES),
  },
  {
    name: 'traverse',
    what: 'traversal, depth 3',
    once: (v1) => getOk(`${v1}/databases/${DB}/instances/root/relationships?depth=3`, (b) => JSON.stringify(b).includes(`"leaf-${LEAVES - 1}"`)),
  },
  {
    name: 'search',
    what: 'search (OpenSearch, 20 hits)',
    once: (v1, n) => getOk(`${v1}/databases/${DB}/search?q=${WORDS[n % WORDS.length]}`, (b) => b.engine === 'opensearch' && b.items?.length > 0),
  },
];

async function send(v1: string, method: string, url: string, body: unknown): Promise<void> {
  const res = await fetch(`${v1}${url}`, { method, headers: { 'content-type': 'application/json', prefer: 'wait=60', ...benchAuth }, body: JSON.stringify(body) });
  let view = await json(res);
  while (res.status === 202 && view?.status !== 'COMPLETED' && view?.status !== 'FAILED') {
    await sleep(200);
    view = await json(await fetch(`${v1}/commands/${view.command_id}`, { headers: benchAuth }));
  }
  if (res.status >= 300 && res.status !== 202) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(view).slice(0, 300)}`);
  if (res.status === 202 && view?.status !== 'COMPLETED') throw new Error(`${method} ${url}: ${JSON.stringify(view).slice(0, 300)}`);
}

/** Leaves first, so every edge points at an instance that exists; each level of the tree is one command. */
async function seed(v1: string): Promise<void> {
  const cls = (id: string, target?: string) => ({
    id,
    label: id,
    properties: [{ name: 'name', type: 'string', required: true }],
    relationships: target ? [{ predicate: 'children', target_class: target, cardinality: '1:n' }] : [],
  });
  await send(v1, 'POST', '/databases', { name: DB });
  for (const [id, target] of [['Leaf'], ['Mid', 'Leaf'], ['Top', 'Mid'], ['Root', 'Top']]) await send(v1, 'POST', `/databases/${DB}/classes`, cls(id, target));
  const name = (i: number) => `${WORDS[i % WORDS.length]} ${WORDS[(i * 3 + 1) % WORDS.length]} ${i}`;
  const ids = (prefix: string, i: number) => Array.from({ length: FANOUT }, (_, k) => `${prefix}-${i * FANOUT + k}`);
  const level = (classId: string, prefix: string, count: number, childPrefix?: string) =>
    send(v1, 'POST', `/databases/${DB}/classes/${classId}/instances:bulk`, {
      instances: Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, properties: { name: name(i) }, ...(childPrefix ? { relationships: { children: ids(childPrefix, i) } } : {}) })),
    });
  await level('Leaf', 'leaf', LEAVES);
  await level('Mid', 'mid', LEAVES / FANOUT, 'leaf');
  await level('Top', 'top', FANOUT, 'mid');
  await send(v1, 'POST', `/databases/${DB}/classes/Root/instances`, { id: 'root', properties: { name: 'root' }, relationships: { children: ids('top', 0) } });
}

async function waitUntil(what: string, v1: string, read: Read): Promise<void> {
  const end = Date.now() + 180_000;
  for (;;) {
    try {
      return await read.once(v1, LEAVES - 1);
    } catch (err) {
      if (Date.now() > end) throw new Error(`${what} never became readable: ${String(err)}`);
      await sleep(500);
    }
  }
}

async function measure(v1: string, read: Read, clients: number, mon: ProcMonitor) {
  const lat: number[] = [];
  let errors = 0;
  let n = 0;
  const cpu0 = mon.cpu().api ?? 0;
  mon.resetPeaks();
  const t0 = now();
  const end = t0 + MEASURE_S * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (now() < end) {
        const t = now();
        try {
          await read.once(v1, n++ * 7919);
          lat.push(now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (now() - t0) / 1000;
  const p = pct(lat);
  return {
    read: read.name,
    what: read.what,
    clients,
    requests: lat.length,
    errors,
    rps: Math.round((lat.length / seconds) * 10) / 10,
    p50_ms: p?.p50 ?? null,
    p99_ms: p?.p99 ?? null,
    api_cpu_ms_per_request: lat.length ? Math.round((((mon.cpu().api ?? 0) - cpu0) * 1000) / lat.length) : null,
    api_peak_rss_mb: mon.peaksMb().api,
  };
}

async function main(): Promise<void> {
  const logDir = path.join(RESULTS, `${RUN}-read`, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const admin = new Pool({ connectionString: base.databaseOwnerUrl, max: 1 });
  await admin.query(`CREATE DATABASE ${PG_DB}`);
  const taskQueue = `bench-${RUN}`;
  const port = await freePort();
  const e = {
    PG_DATABASE: PG_DB,
    S3_BUCKET: BUCKET,
    ...S3_ROOT,
    KAFKA_TOPIC: `bench-${RUN}-read`,
    OPENSEARCH_INDEX_PREFIX: `bench-${RUN}`,
    LOG_LEVEL: 'warn',
    API_PORT: String(port),
    TEMPORAL_TASK_QUEUE: taskQueue,
    // The load generator is one client: per-key limits would measure the limiter, not the reads.
    API_RATE_LIMIT: '1000000',
  };
  const connection = await Connection.connect(temporalConnectionOptions(base));
  const children: Child[] = [];
  const mon = new ProcMonitor();
  const rows: Awaited<ReturnType<typeof measure>>[] = [];
  const v1 = `http://127.0.0.1:${port}/api/v1`;
  const load = () =>
    os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  const loadBefore = load();
  try {
    children.push(await startChild('worker', ['worker.ts'], e, null, logDir));
    children.push(await startChild('api', ['src/app/api-server.ts'], e, null, logDir));
    await waitHttp(`http://127.0.0.1:${port}/health`);
    mon.tracked = [{ name: 'api', pid: children[1].proc.pid! }];
    mon.start(100);
    process.stdout.write(`seeding ${LEAVES + LEAVES / FANOUT + FANOUT + 1} instances...\n`);
    await seed(v1);
    for (const r of READS) await waitUntil(r.name, v1, r);
    for (const r of READS) {
      for (const c of LEVELS) {
        await measure(v1, r, c, mon); // warm-up: connections, caches, JIT
        const row = await measure(v1, r, c, mon);
        rows.push(row);
        process.stdout.write(`${r.name} c${c}: ${row.rps} req/s p50 ${row.p50_ms} p99 ${row.p99_ms} ms (${row.errors} errors)\n`);
      }
    }
  } finally {
    mon.stop();
    for (const c of [...children].reverse()) await stopChild(c);
    const client = new Client({ connection, namespace: base.TEMPORAL_NAMESPACE });
    await deleteReconcileSchedule(client, taskQueue).catch(() => undefined);
    await connection.close();
    await admin.end();
    const s3 = createS3Client({ ...base, ...S3_ROOT });
    const kafka = new Kafka({ clientId: 'spice-bench-read', brokers: base.kafkaBrokers, logLevel: logLevel.NOTHING });
    const left = await dropRunResources(s3, kafka);
    s3.destroy();
    // The search indexes of the run's prefix (bench-<run>-...).
    await fetch(`${base.opensearchUrl}/bench-${RUN.toLowerCase()}*`, { method: 'DELETE' })
      .then(async (r) => (r.ok ? undefined : left.push(`search indexes: HTTP ${r.status} ${await r.text()}`)))
      .catch((err: Error) => left.push(`search indexes: ${err.message}`));
    if (left.length) process.stdout.write(`not removed: ${left.join('; ')}\n`);
  }
  const header = `Read path, ${new Date().toISOString()}, ${MEASURE_S} s per row after as long a warm-up, load average ${loadBefore} (1/5/15 min) at start, ${load()} at end, ${os.cpus().length} cores`;
  const md = [
    header,
    '',
    '| read | clients | req/s | p50 ms | p99 ms | errors | API CPU ms/req | API peak RSS MB |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.what} | ${r.clients} | ${r.rps} | ${r.p50_ms} | ${r.p99_ms} | ${r.errors} | ${r.api_cpu_ms_per_request} | ${r.api_peak_rss_mb} |`),
  ].join('\n');
  fs.writeFileSync(path.join(RESULTS, `${RUN}-read.json`), JSON.stringify({ run: RUN, measure_s: MEASURE_S, load_start: loadBefore, load_end: load(), rows }, null, 2));
  fs.writeFileSync(path.join(RESULTS, `${RUN}-read.md`), md + '\n');
  process.stdout.write(`\n${md}\n\nresults: bench/results/${RUN}-read.json, .md\n`);
  process.exit(rows.some((r) => r.errors > 0) ? 1 : 0);
}

main().catch((err) => {
  process.stderr.write(`bench read-path: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});

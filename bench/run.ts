/**
 * End-to-end benchmark (not a test): `npm run bench [-- --quick] [--paths workflow,direct,poll-5000,poll-100]
 * [--levels 1,8,32,128] [--no-hot] [--no-bulk] [--bulk 100000] [--measure 25] [--warmup 5] [--worker shipped|bench]`.
 *
 * Runs one workload through three paths against the local stack, each in its own processes:
 *   workflow   the shipped API (src/api/server.ts) and worker (worker.ts): REST -> Temporal -> S3 -> ledger -> Kafka + read models
 *   direct     bench/inline-server.ts: the same activity code and adapters inline per request, no Temporal (the floor)
 *   poll-N     bench/inline-server.ts (S3 + outbox row per request) + bench/poll-relay.ts (outbox polled every N ms,
 *              published to Kafka; a Kafka consumer projects): the design being replaced
 * Every run checks what it wrote (S3 index keys, ledger rows, Kafka order, read models) and exits 1 on a violation.
 * Results: bench/results/<run>.json and .md (git-ignored), bench/latest-chart.svg.
 */
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execSync } from 'node:child_process';
import { Pool } from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { Client, Connection } from '@temporalio/client';
import cliProgress from 'cli-progress';
import { loadConfig, Config } from '../src/config';
import { createS3Client, listKeys } from '../src/adapters/s3-client';
import { S3KeyLayout, encodeSegment } from '../src/adapters/s3-keys';
import { ProcMonitor, Tracked, stackPids, sample } from './lib/procstats';
import { pct, median, Pct } from './lib/stats';
import { chartSvg, Series } from './lib/chart';

// ---------------------------------------------------------------- options
const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(`--${n}`);
const opt = (n: string): string | undefined => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const QUICK = flag('quick');
const ALL_PATHS = ['workflow', 'direct', 'poll-5000', 'poll-100'];
const PATHS = (opt('paths')?.split(',') ?? ALL_PATHS).flatMap((p) => (p === 'poll' ? ['poll-5000', 'poll-100'] : p.startsWith('poll') && !p.includes('-') ? [] : [p]));
const LEVELS = (opt('levels') ?? '1,8,32,128').split(',').map(Number);
const HOT = !flag('no-hot');
const BULK = flag('no-bulk') ? 0 : Number(opt('bulk') ?? (QUICK ? 5000 : 100_000));
const MEASURE_S = Number(opt('measure') ?? (QUICK ? 4 : 20));
const WARMUP_S = Number(opt('warmup') ?? (QUICK ? 1 : 5));
const HOT_CLIENTS = 16;
const WORKER = opt('worker') ?? 'shipped';
const PROFILE_SAMPLES = QUICK ? 10 : 40;
for (const p of PATHS) if (!ALL_PATHS.includes(p) && !/^poll-\d+$/.test(p)) throw new Error(`unknown path ${p}`);

const ROOT = path.resolve(__dirname, '..');
const RESULTS = path.join(ROOT, 'bench', 'results');
const RUN = `b${Date.now().toString(36)}`;
const base = loadConfig();
const PG_DB = `spice_bench_${RUN}`;
const BUCKET = `spice-bench-${RUN}`;
const ONTO_DB = 'bench';
const CLASS = 'Item';
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- records
interface Rec {
  scenario: string;
  kind: 'create' | 'update';
  instance: string;
  tSubmit: number;
  tDone?: number;
  tKafka?: number;
  tRm?: number;
  commandId?: string;
  eventId?: string;
  version?: number;
  error?: string;
}

interface ScenarioResult {
  path: string;
  scenario: string;
  concurrency: number;
  hot: boolean;
  commands: number;
  throughput: number;
  errors: number;
  errorSamples: string[];
  submitToCompleted: Pct | null;
  submitToKafka: Pct | null;
  submitToReadModel: Pct | null;
  cpuSeconds: Record<string, number>;
  peakRssMb: Record<string, number>;
  profile?: Record<string, number>;
}

const violations: string[] = [];
const results: ScenarioResult[] = [];
const notes: string[] = [];
let bulkResult: Record<string, unknown> | undefined;

// ---------------------------------------------------------------- helpers
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
    s.on('error', reject);
  });
}

interface Child {
  name: string;
  proc: ChildProcess;
}

function startChild(name: string, args: string[], env: Record<string, string>, ready: RegExp | null, logDir: string): Promise<Child> {
  const out = fs.openSync(path.join(logDir, `${name}.log`), 'a');
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', out] });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not become ready (see ${logDir}/${name}.log)`)), 120_000);
    proc.once('exit', (code) => reject(new Error(`${name} exited with ${code} (see ${logDir}/${name}.log)`)));
    proc.stdout!.on('data', (d: Buffer) => {
      fs.appendFileSync(path.join(logDir, `${name}.log`), d);
      buf += d.toString();
      if (ready === null || ready.test(buf)) {
        clearTimeout(timer);
        resolve({ name, proc });
      }
    });
    if (ready === null) setTimeout(() => (clearTimeout(timer), resolve({ name, proc })), 100);
  });
}

async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null) return;
  const exited = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
}

async function waitHttp(url: string, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.status < 500) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) throw new Error(`${url} not up`);
    await sleep(250);
  }
}

// ---------------------------------------------------------------- the paths' clients
interface PathEnv {
  name: string;
  /** Submits one command and resolves when it is COMPLETED (or failed). */
  exec(kind: 'create' | 'update', instance: string, n: number, rec: Rec): Promise<void>;
  setup(): Promise<void>;
  schema: string;
  rmSchema: string;
  prefix: string;
  topic: string;
  children: Child[];
  commandIdsForProfile?: string[];
  apiUrl?: string;
}

const props = (n: number) => ({ n, note: `bench ${n}` });

async function json(res: Response): Promise<any> {
  const t = await res.text();
  return t ? JSON.parse(t) : undefined;
}

function restClient(api: string): Pick<PathEnv, 'exec' | 'setup'> {
  const v1 = `${api}/api/v1`;
  const wait = { 'content-type': 'application/json', prefer: 'wait=30' };
  async function untilDone(res: Response, rec: Rec): Promise<void> {
    let body = await json(res);
    rec.commandId = body?.command_id;
    if (res.status === 202 && body?.command_id) {
      // The wait ran out: poll the status like a client would.
      for (;;) {
        await sleep(100);
        body = await json(await fetch(`${v1}/commands/${body.command_id}`));
        if (body?.status === 'COMPLETED' || body?.status === 'FAILED') break;
      }
    }
    rec.tDone = now();
    if (body?.status !== 'COMPLETED') {
      rec.error = `${res.status} ${body?.code ?? body?.status ?? ''}`;
      return;
    }
    const ev = body.result?.events?.[0] ?? body.events?.[0];
    rec.eventId = ev?.event_id;
    rec.version = body.result?.version;
  }
  return {
    async setup() {
      const r1 = await fetch(`${v1}/databases`, { method: 'POST', headers: wait, body: JSON.stringify({ name: ONTO_DB }) });
      if (r1.status !== 201) throw new Error(`create database: ${r1.status} ${await r1.text()}`);
      const cls = { id: CLASS, label: CLASS, properties: [{ name: 'n', type: 'integer', required: true }, { name: 'note', type: 'string' }], relationships: [] };
      const r2 = await fetch(`${v1}/databases/${ONTO_DB}/classes`, { method: 'POST', headers: wait, body: JSON.stringify(cls) });
      if (r2.status !== 201) throw new Error(`create class: ${r2.status} ${await r2.text()}`);
    },
    async exec(kind, instance, n, rec) {
      const res =
        kind === 'create'
          ? await fetch(`${v1}/databases/${ONTO_DB}/classes/${CLASS}/instances`, { method: 'POST', headers: wait, body: JSON.stringify({ id: instance, properties: props(n) }) })
          : await fetch(`${v1}/databases/${ONTO_DB}/classes/${CLASS}/instances/${instance}`, { method: 'PUT', headers: wait, body: JSON.stringify({ properties: props(n) }) });
      await untilDone(res, rec);
    },
  };
}

function inlineClient(url: string): Pick<PathEnv, 'exec' | 'setup'> {
  const post = async (body: unknown) => {
    const res = await fetch(`${url}/cmd`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await json(res) };
  };
  return {
    async setup() {
      const r1 = await post({ command_type: 'CREATE_DATABASE', payload: { name: ONTO_DB } });
      if (r1.status !== 200) throw new Error(`create database: ${JSON.stringify(r1)}`);
      const cls = { id: CLASS, label: CLASS, properties: [{ name: 'n', type: 'integer', required: true }, { name: 'note', type: 'string' }], relationships: [] };
      const r2 = await post({ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: ONTO_DB, payload: cls });
      if (r2.status !== 200) throw new Error(`create class: ${JSON.stringify(r2)}`);
    },
    async exec(kind, instance, n, rec) {
      const r =
        kind === 'create'
          ? await post({ command_type: 'CREATE_INSTANCE', db_name: ONTO_DB, payload: { id: instance, class_id: CLASS, properties: props(n) } })
          : await post({ command_type: 'UPDATE_INSTANCE', db_name: ONTO_DB, payload: { id: instance, properties: props(n) } });
      rec.tDone = now();
      rec.commandId = r.body?.command_id;
      if (r.status !== 200) {
        rec.error = `${r.status} ${r.body?.code ?? ''} ${r.body?.message ?? ''}`.slice(0, 200);
        return;
      }
      rec.eventId = r.body.result.events[0]?.event_id;
      rec.version = r.body.result.version;
    },
  };
}

// ---------------------------------------------------------------- observers: Kafka and read models
class KafkaTracker {
  first = new Map<string, number>();
  dups = 0;
  /** per key: versions of first occurrences, in arrival order */
  order = new Map<string, number[]>();
  private consumer;
  constructor(kafka: Kafka, private topic: string) {
    this.consumer = kafka.consumer({ groupId: `${topic}-bench-observer`, maxWaitTimeInMs: 20, minBytes: 1 });
  }
  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      eachBatch: async ({ batch }) => {
        const t = now();
        for (const m of batch.messages) {
          const id = String(m.headers?.['event-id'] ?? '');
          if (this.first.has(id)) {
            this.dups++;
            continue;
          }
          this.first.set(id, t);
          const key = String(m.key);
          const list = this.order.get(key) ?? [];
          list.push(Number(String(m.headers?.['aggregate-version'] ?? 'NaN')));
          this.order.set(key, list);
        }
      },
    });
  }
  async stop(): Promise<void> {
    await this.consumer.disconnect().catch(() => undefined);
  }
}

class ReadModelWatcher {
  private pending = new Map<string, { version: number; recs: Rec[] }>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  constructor(private pool: Pool, private rmSchema: string) {}
  watch(rec: Rec, version: number): void {
    const p = this.pending.get(rec.instance);
    if (p) {
      p.recs.push(rec);
      p.version = Math.min(p.version, version);
    } else this.pending.set(rec.instance, { version, recs: [rec] });
  }
  start(): void {
    this.timer = setInterval(() => void this.tick(), 10);
  }
  stop(): void {
    clearInterval(this.timer);
  }
  get size(): number {
    return this.pending.size;
  }
  private async tick(): Promise<void> {
    if (this.busy || this.pending.size === 0) return;
    this.busy = true;
    try {
      const ids = [...this.pending.keys()].slice(0, 5000);
      const { rows } = await this.pool.query(`SELECT instance_id, version FROM ${this.rmSchema}.instances WHERE db_name = $1 AND instance_id = ANY($2)`, [ONTO_DB, ids]);
      const t = now();
      for (const r of rows) {
        const p = this.pending.get(r.instance_id);
        if (!p) continue;
        const keep: Rec[] = [];
        for (const rec of p.recs) {
          if (r.version >= (rec.version ?? Infinity)) rec.tRm ??= t;
          else keep.push(rec);
        }
        if (keep.length === 0) this.pending.delete(r.instance_id);
        else p.recs = keep;
      }
    } catch {
      /* retry next tick */
    } finally {
      this.busy = false;
    }
  }
}

// ---------------------------------------------------------------- one scenario
async function runScenario(
  env: PathEnv,
  name: string,
  clients: number,
  hot: boolean,
  kafka: KafkaTracker,
  rm: ReadModelWatcher,
  mon: ProcMonitor,
  bar: cliProgress.SingleBar,
  barBase: number,
  barSpan: number,
): Promise<{ res: ScenarioResult; recs: Rec[] }> {
  const recs: Rec[] = [];
  const hotId = `${name}-hot`;
  if (hot) {
    const r: Rec = { scenario: name, kind: 'create', instance: hotId, tSubmit: now(), version: 1 };
    rm.watch(r, 1);
    await env.exec('create', hotId, 0, r);
    recs.push(r);
    if (r.error) throw new Error(`hot instance: ${r.error}`);
  }
  const t0 = now();
  const warmEnd = t0 + WARMUP_S * 1000;
  const end = warmEnd + MEASURE_S * 1000;
  let cpuStart: Record<string, number> = {};
  const marker = setTimeout(() => {
    cpuStart = mon.cpu();
    mon.resetPeaks();
  }, WARMUP_S * 1000);
  const progress = setInterval(() => bar.update(Math.min(barBase + barSpan, barBase + (barSpan * (now() - t0)) / (end - t0)), { phase: `${env.name} ${name}` }), 250);
  let n = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let i = 0;
      let last = '';
      while (now() < end) {
        const kind: 'create' | 'update' = hot || i % 2 === 1 ? 'update' : 'create';
        const instance = hot ? hotId : kind === 'create' ? `${name}-c${c}-${i}` : last;
        if (kind === 'create') last = instance;
        const rec: Rec = { scenario: name, kind, instance, tSubmit: now() };
        recs.push(rec);
        // The expected version is known up front for a client's own instances: watch the read model from submit on.
        if (!hot) rm.watch(rec, kind === 'create' ? 1 : 2), (rec.version = kind === 'create' ? 1 : 2);
        try {
          await env.exec(kind, instance, ++n, rec);
        } catch (err) {
          rec.tDone = now();
          rec.error = (err as Error).message.slice(0, 200);
        }
        if (hot && !rec.error && rec.version) rm.watch(rec, rec.version);
        if (rec.error) {
          rec.version = undefined;
          if (kind === 'create') last = '';
          await sleep(50);
        }
        i++;
        if (!hot && kind === 'create' && rec.error) i++; // no update of an instance that does not exist
      }
    }),
  );
  clearTimeout(marker);
  const cpuEnd = mon.cpu();
  const peaks = mon.peaksMb();
  clearInterval(progress);

  // Drain: every stored event must reach Kafka and the read model.
  const ok = recs.filter((r) => !r.error && r.eventId);
  const drainEnd = now() + (env.name.startsWith('poll-') ? Number(env.name.slice(5)) * 3 : 0) + 30_000;
  for (;;) {
    const missingKafka = ok.filter((r) => !kafka.first.has(r.eventId!)).length;
    const missingRm = ok.filter((r) => r.tRm === undefined).length;
    if ((missingKafka === 0 && missingRm === 0) || now() > drainEnd) break;
    bar.update(barBase + barSpan, { phase: `${env.name} ${name} drain (${missingKafka} kafka, ${missingRm} read model)` });
    await sleep(100);
  }
  for (const r of ok) r.tKafka = kafka.first.get(r.eventId!);
  const undelivered = ok.filter((r) => r.tKafka === undefined).length;
  const unprojected = ok.filter((r) => r.tRm === undefined).length;
  if (undelivered) violations.push(`${env.name}/${name}: ${undelivered} stored event(s) never consumed from Kafka`);
  if (unprojected) violations.push(`${env.name}/${name}: ${unprojected} command(s) never visible in the read model`);

  // Throughput: completions inside the window; latency: commands submitted inside it (completed at any time).
  const completedInWindow = recs.filter((r) => !r.error && r.tDone !== undefined && r.tDone >= warmEnd && r.tDone <= end).length;
  const good = recs.filter((r) => r.tSubmit >= warmEnd && r.tDone !== undefined && !r.error);
  const errs = recs.filter((r) => r.error);
  const cpu: Record<string, number> = {};
  for (const k of Object.keys(cpuEnd)) cpu[k] = Math.round(((cpuEnd[k] ?? 0) - (cpuStart[k] ?? cpuEnd[k] ?? 0)) * 100) / 100;
  const res: ScenarioResult = {
    path: env.name,
    scenario: name,
    concurrency: clients,
    hot,
    commands: completedInWindow,
    throughput: Math.round((completedInWindow / MEASURE_S) * 10) / 10,
    errors: errs.length,
    errorSamples: [...new Set(errs.map((e) => e.error!))].slice(0, 5),
    submitToCompleted: pct(good.map((r) => r.tDone! - r.tSubmit)),
    submitToKafka: pct(good.filter((r) => r.tKafka).map((r) => r.tKafka! - r.tSubmit)),
    submitToReadModel: pct(good.filter((r) => r.tRm).map((r) => r.tRm! - r.tSubmit)),
    cpuSeconds: cpu,
    peakRssMb: peaks,
  };
  if (env.commandIdsForProfile) {
    const ids = good.map((r) => r.commandId!).filter(Boolean);
    const step = Math.max(1, Math.floor(ids.length / PROFILE_SAMPLES));
    for (let i = 0; i < ids.length && env.commandIdsForProfile.length < 100000; i += step) env.commandIdsForProfile.push(`${name}\u0000${ids[i]}`);
  }
  return { res, recs };
}

// ---------------------------------------------------------------- invariants
async function checkInvariants(env: PathEnv, recs: Rec[], kafka: KafkaTracker, pool: Pool, s3: ReturnType<typeof createS3Client>): Promise<Record<string, number>> {
  const layout = new S3KeyLayout(env.prefix);
  const v: string[] = [];
  // S3: versions per stream from the index keys
  const s3Versions = new Map<string, number[]>();
  for (const type of ['instance', 'instance_batch']) {
    const root = `${layout.prefix}indexes/by-aggregate/${encodeSegment(type)}/`;
    const { objects } = await listKeys(s3, BUCKET, root);
    for (const o of objects) {
      const rel = o.Key!.slice(root.length);
      const seg = rel.slice(0, rel.indexOf('/'));
      const ver = layout.versionOfIndexKey(o.Key!);
      if (ver === undefined) continue;
      const k = `${type}/${seg}`;
      s3Versions.set(k, [...(s3Versions.get(k) ?? []), ver]);
    }
  }
  const { rows: ledger } = await pool.query(
    `SELECT aggregate_type, aggregate_id, count(*)::int AS n, count(DISTINCT aggregate_version)::int AS nv, min(aggregate_version) AS mn,
            max(aggregate_version) AS mx, count(*) FILTER (WHERE status = 'delivered')::int AS delivered
     FROM ${env.schema}.delivery_ledger WHERE aggregate_type IN ('instance', 'instance_batch') GROUP BY 1, 2`,
  );
  const { rows: rmRows } = await pool.query(`SELECT instance_id, version FROM ${env.rmSchema}.instances WHERE db_name = $1 AND batch_aggregate_id IS NULL`, [ONTO_DB]);
  const rmVersion = new Map(rmRows.map((r) => [`${ONTO_DB}:${r.instance_id}`, r.version as number]));
  const okPerStream = new Map<string, number>();
  const errPerStream = new Set<string>();
  for (const r of recs) {
    const k = `${ONTO_DB}:${r.instance}`;
    if (r.error) errPerStream.add(k);
    else okPerStream.set(k, (okPerStream.get(k) ?? 0) + 1);
  }
  let streams = 0;
  let events = 0;
  for (const l of ledger) {
    streams++;
    const seg = `${l.aggregate_type}/${encodeSegment(l.aggregate_id)}`;
    const sv = (s3Versions.get(seg) ?? []).sort((a, b) => a - b);
    s3Versions.delete(seg);
    const n = sv.length;
    events += n;
    const id = `${l.aggregate_type} ${l.aggregate_id}`;
    if (!sv.every((x, i) => x === i + 1)) v.push(`S3 versions of ${id} are not 1..${n}: ${sv.slice(0, 10).join(',')}`);
    if (l.n !== n || l.nv !== n || l.mn !== 1 || l.mx !== n) v.push(`ledger of ${id}: ${l.n} rows, ${l.nv} versions ${l.mn}..${l.mx}; S3 has ${n}`);
    if (l.delivered !== l.n) v.push(`ledger of ${id}: ${l.n - l.delivered} row(s) not delivered`);
    const kv = kafka.order.get(l.aggregate_id) ?? [];
    if (kv.length !== n || !kv.every((x, i) => x === i + 1)) v.push(`Kafka order of ${id}: [${kv.slice(0, 12).join(',')}${kv.length > 12 ? ',...' : ''}] (${kv.length}), expected 1..${n}`);
    if (l.aggregate_type === 'instance') {
      const ok = okPerStream.get(l.aggregate_id) ?? 0;
      if (n < ok) v.push(`lost: ${id} has ${n} event(s) but ${ok} command(s) were acknowledged`);
      if (n > ok && !errPerStream.has(l.aggregate_id)) v.push(`duplicated: ${id} has ${n} event(s) for ${ok} acknowledged command(s)`);
      const rv = rmVersion.get(l.aggregate_id);
      if (rv !== n) v.push(`read model of ${id} at version ${rv}, S3 at ${n}`);
    }
  }
  for (const [seg, vs] of s3Versions) v.push(`S3 stream ${seg} (${vs.length} versions) has no ledger rows`);
  for (const [k, ok] of okPerStream) if (ok > 0 && !ledger.some((l) => l.aggregate_id === k)) v.push(`lost: ${k}: ${ok} acknowledged command(s), nothing stored`);
  for (const x of v.slice(0, 50)) violations.push(`${env.name}: ${x}`);
  if (v.length > 50) violations.push(`${env.name}: ... ${v.length - 50} more`);
  return { streams, events, kafkaDuplicates: kafka.dups, violations: v.length };
}

// ---------------------------------------------------------------- workflow profile from histories
const ts = (t: any) => Number(t?.seconds ?? 0) * 1000 + Number(t?.nanos ?? 0) / 1e6;

async function profileWorkflows(client: Client, ids: string[], submitTimes: Map<string, Rec>): Promise<Record<string, Record<string, number>>> {
  const per = new Map<string, Record<string, number[]>>();
  for (const entry of ids) {
    const [scenario, commandId] = entry.split('\u0000');
    let h;
    try {
      h = await client.workflow.getHandle(`command-${commandId}`).fetchHistory();
    } catch {
      continue;
    }
    const ev = h.events ?? [];
    const start = ev.find((e) => e.workflowExecutionStartedEventAttributes);
    const close = ev.find((e) => e.workflowExecutionCompletedEventAttributes);
    if (!start || !close) continue;
    const m = per.get(scenario) ?? {};
    per.set(scenario, m);
    const add = (k: string, x: number) => (m[k] ??= []).push(x);
    const byId = new Map(ev.map((e) => [Number(e.eventId), e]));
    // workflow tasks: scheduled -> started (queue) and started -> completed (worker)
    let wftQueue = 0;
    let wftRun = 0;
    let wfts = 0;
    for (const e of ev) {
      const a = e.workflowTaskStartedEventAttributes;
      if (a) {
        const sched = byId.get(Number(a.scheduledEventId));
        wftQueue += ts(e.eventTime) - ts(sched?.eventTime);
        wfts++;
      }
      const c = e.workflowTaskCompletedEventAttributes;
      if (c) wftRun += ts(e.eventTime) - ts(byId.get(Number(c.startedEventId))?.eventTime);
    }
    add('workflow tasks', wfts);
    add('wft schedule->start ms (sum)', wftQueue);
    add('wft start->complete ms (sum)', wftRun);
    for (const e of ev) {
      const c = e.activityTaskCompletedEventAttributes;
      if (!c) continue;
      const sched = byId.get(Number(c.scheduledEventId));
      const started = byId.get(Number(c.startedEventId));
      const name = sched?.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
      add(`${name} schedule->start ms`, ts(started?.eventTime) - ts(sched?.eventTime));
      add(`${name} start->complete ms`, ts(e.eventTime) - ts(started?.eventTime));
      add(`${name} attempts`, Number(started?.activityTaskStartedEventAttributes?.attempt ?? 1));
    }
    add('workflow start->close ms', ts(close.eventTime) - ts(start.eventTime));
    const rec = submitTimes.get(commandId);
    if (rec?.tDone) {
      add('API submit->workflow started ms', ts(start.eventTime) - rec.tSubmit);
      add('workflow closed->API response ms', rec.tDone - ts(close.eventTime));
    }
  }
  const out: Record<string, Record<string, number>> = {};
  for (const [s, m] of per) out[s] = Object.fromEntries(Object.entries(m).map(([k, xs]) => [`${k} (p50)`, Math.round(median(xs) * 10) / 10]));
  return out;
}

// ---------------------------------------------------------------- a path, end to end
async function runPath(pathName: string, mon: ProcMonitor, bar: cliProgress.SingleBar, barBase: number, barPer: number, pool: Pool, s3: ReturnType<typeof createS3Client>, kafkaClient: Kafka): Promise<void> {
  const logDir = path.join(RESULTS, RUN, 'logs');
  const topic = `bench-${RUN}-${pathName}`;
  const common = { PG_DATABASE: PG_DB, S3_BUCKET: BUCKET, KAFKA_TOPIC: topic, LOG_LEVEL: 'warn' };
  let env: PathEnv;
  const children: Child[] = [];
  let temporal: { client: Client; connection: Connection } | undefined;
  bar.update(barBase, { phase: `${pathName}: starting processes` });
  if (pathName === 'workflow') {
    const port = await freePort();
    const taskQueue = `bench-${RUN}`;
    const e = { ...common, API_PORT: String(port), TEMPORAL_TASK_QUEUE: taskQueue };
    children.push(await startChild('worker', [WORKER === 'bench' ? 'bench/worker.ts' : 'worker.ts'], e, null, logDir));
    children.push(await startChild('api', ['src/api/server.ts'], e, null, logDir));
    await waitHttp(`http://127.0.0.1:${port}/health`);
    const connection = await Connection.connect({ address: base.temporalAddress });
    temporal = { connection, client: new Client({ connection, namespace: base.TEMPORAL_NAMESPACE }) };
    env = { name: pathName, ...restClient(`http://127.0.0.1:${port}`), schema: 'spice', rmSchema: 'read_models', prefix: '', topic, children, commandIdsForProfile: [], apiUrl: `http://127.0.0.1:${port}` };
  } else {
    const mode = pathName === 'direct' ? 'direct' : 'poll';
    const schema = `bench_${pathName.replace('-', '_')}`;
    const port = await freePort();
    const e = { ...common, BENCH_MODE: mode, BENCH_SCHEMA: schema, BENCH_PREFIX: `${schema}/`, BENCH_PORT: String(port) };
    children.push(await startChild('app', ['bench/inline-server.ts'], e, /listening/, logDir));
    if (mode === 'poll') {
      const interval = pathName.slice(5);
      children.push(await startChild('relay', ['bench/poll-relay.ts'], { ...e, POLL_INTERVAL_MS: interval, POLL_BATCH: opt('poll-batch') ?? '100' }, /relay ready/, logDir));
    }
    env = { name: pathName, ...inlineClient(`http://127.0.0.1:${port}`), schema, rmSchema: `${schema}_rm`, prefix: `${schema}/`, topic, children };
  }
  const names = pathName === 'workflow' ? ['api', 'worker'] : pathName === 'direct' ? ['app'] : ['app', 'relay'];
  mon.tracked = [
    ...children.map((c) => ({ name: c.name, pid: c.proc.pid! })).filter((t) => names.includes(t.name)),
    { name: 'bench', pid: process.pid },
    ...stackPids(),
  ];
  const kafka = new KafkaTracker(kafkaClient, topic);
  const rm = new ReadModelWatcher(pool, env.rmSchema);
  const allRecs: Rec[] = [];
  try {
    await env.setup();
    // The polling path projects asynchronously: the class must be in the read models before instances can be created.
    for (let i = 0; ; i++) {
      const { rows } = await pool.query(`SELECT 1 FROM ${env.rmSchema}.classes WHERE db_name = $1 AND class_id = $2`, [ONTO_DB, CLASS]).catch(() => ({ rows: [] as unknown[] }));
      if (rows.length) break;
      if (i > 600) throw new Error('class never reached the read model');
      await sleep(100);
    }
    await kafka.start();
    rm.start();
    const scenarios: { name: string; clients: number; hot: boolean }[] = [
      ...LEVELS.map((c) => ({ name: `c${c}`, clients: c, hot: false })),
      ...(HOT ? [{ name: `hot${HOT_CLIENTS}`, clients: HOT_CLIENTS, hot: true }] : []),
    ];
    const span = barPer / (scenarios.length + (pathName === 'workflow' && BULK ? 2 : 0));
    let k = 0;
    for (const sc of scenarios) {
      const { res, recs } = await runScenario(env, sc.name, sc.clients, sc.hot, kafka, rm, mon, bar, barBase + span * k++, span);
      allRecs.push(...recs);
      results.push(res);
    }
    if (pathName === 'workflow' && BULK) {
      bulkResult = await runBulk(env, kafka, pool, mon, bar, barBase + span * k, span * 2);
    }
    bar.update(barBase + barPer, { phase: `${pathName}: checking invariants` });
    const inv = await checkInvariants(env, allRecs, kafka, pool, s3);
    notes.push(`${pathName}: checked ${inv.streams} streams / ${inv.events} events in S3, ledger, Kafka (${inv.kafkaDuplicates} duplicate deliveries) and read models: ${inv.violations} violation(s)`);
    if (temporal && env.commandIdsForProfile?.length) {
      bar.update(barBase + barPer, { phase: `${pathName}: reading workflow histories` });
      const byCmd = new Map(allRecs.filter((r) => r.commandId).map((r) => [r.commandId!, r]));
      const prof = await profileWorkflows(temporal.client, env.commandIdsForProfile, byCmd);
      for (const r of results) if (r.path === pathName && prof[r.scenario]) r.profile = prof[r.scenario];
    }
  } finally {
    rm.stop();
    await kafka.stop();
    for (const c of [...children].reverse()) {
      const t = mon.tracked.find((x) => x.name === c.name);
      if (t) notes.push(`${pathName}: ${c.name} VmHWM (lifetime peak RSS) ${Math.round(sample(t).hwm / 1048576)} MB`);
      await stopChild(c);
    }
    await temporal?.connection.close();
  }
}

async function runBulk(env: PathEnv, kafka: KafkaTracker, pool: Pool, mon: ProcMonitor, bar: cliProgress.SingleBar, barBase: number, span: number): Promise<Record<string, unknown>> {
  const instances = Array.from({ length: BULK }, (_, i) => ({ id: `bulk-${i}`, properties: { n: i } }));
  const body = JSON.stringify({ instances });
  const v1 = `${env.apiUrl}/api/v1`;
  const cpu0 = mon.cpu();
  mon.resetPeaks();
  const t0 = now();
  bar.update(barBase, { phase: `workflow bulk ${BULK}` });
  const res = await fetch(`${v1}/databases/${ONTO_DB}/classes/${CLASS}/instances:bulk`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const accepted = await json(res);
  const tAccepted = now();
  if (res.status !== 202) throw new Error(`bulk: ${res.status} ${JSON.stringify(accepted).slice(0, 300)}`);
  let status: any;
  let batchesTotal = 0;
  for (;;) {
    status = await json(await fetch(`${v1}/commands/${accepted.command_id}`));
    batchesTotal = status?.progress?.batches_total ?? batchesTotal;
    bar.update(barBase + span * Math.min(0.95, (status?.progress?.batches_done ?? 0) / Math.max(1, batchesTotal)), { phase: `workflow bulk ${BULK}: ${status?.status} ${status?.progress?.batches_done ?? 0}/${batchesTotal}` });
    if (status?.status === 'COMPLETED' || status?.status === 'FAILED') break;
    if (now() - t0 > 600_000) break;
    await sleep(250);
  }
  const tCompleted = now();
  const eventCount = status?.result?.event_count ?? 0;
  // Kafka: every batch event consumed (ledger gives all event ids of the batch stream)
  const aggregateId = status?.result?.aggregate_id;
  const { rows } = await pool.query(`SELECT event_id FROM ${env.schema}.delivery_ledger WHERE aggregate_type = 'instance_batch' AND aggregate_id = $1`, [aggregateId]);
  let tKafka: number | undefined;
  let projected = 0;
  let tRm: number | undefined;
  const deadline = now() + 120_000;
  while (now() < deadline && (tKafka === undefined || tRm === undefined)) {
    if (tKafka === undefined && rows.length && rows.every((r) => kafka.first.has(r.event_id))) tKafka = Math.max(...rows.map((r) => kafka.first.get(r.event_id)!));
    if (tRm === undefined) {
      projected = (await pool.query(`SELECT count(*)::int AS n FROM ${env.rmSchema}.instances WHERE db_name = $1 AND instance_id LIKE 'bulk-%'`, [ONTO_DB])).rows[0].n;
      if (projected >= BULK) tRm = now();
    }
    if (tKafka === undefined || tRm === undefined) await sleep(100);
  }
  const cpu1 = mon.cpu();
  const cpu: Record<string, number> = {};
  for (const k of Object.keys(cpu1)) cpu[k] = Math.round(((cpu1[k] ?? 0) - (cpu0[k] ?? 0)) * 100) / 100;
  const ok = status?.status === 'COMPLETED' && projected === BULK && tKafka !== undefined;
  if (!ok) violations.push(`bulk: status ${status?.status}, ${projected}/${BULK} projected, kafka ${tKafka ? 'complete' : 'incomplete'} (${rows.length} ledger rows)`);
  return {
    instances: BULK,
    status: status?.status,
    batches: eventCount,
    accepted_ms: Math.round(tAccepted - t0),
    completed_s: Math.round((tCompleted - t0) / 100) / 10,
    kafka_s: tKafka ? Math.round((tKafka - t0) / 100) / 10 : null,
    read_model_s: tRm ? Math.round((tRm - t0) / 100) / 10 : null,
    instances_per_s: tRm ? Math.round(BULK / ((Math.max(tRm, tCompleted, tKafka ?? 0) - t0) / 1000)) : null,
    cpuSeconds: cpu,
    peakRssMb: mon.peaksMb(),
  };
}


// ---------------------------------------------------------------- report
const fmtP = (p: Pct | null, k: keyof Pct) => (p ? String(Math.round(p[k] as number)) : '-');

function markdown(meta: Record<string, unknown>): string {
  const lines: string[] = [];
  lines.push(`Run \`${RUN}\` (${meta.mode}), ${meta.date}; measure ${MEASURE_S} s after ${WARMUP_S} s warm-up per level; latencies in ms.`);
  lines.push('');
  lines.push('| path | level | cmd/s | errors | submit→COMPLETED p50/p90/p99/max | submit→Kafka p50/p90/p99/max | submit→read model p50/p90/p99/max | CPU s (app procs) | CPU s (temporal/minio/kafka/pg) | peak RSS MB (app procs) |');
  lines.push('|---|---|---:|---:|---|---|---|---|---|---|');
  for (const r of results) {
    const q = (p: Pct | null) => `${fmtP(p, 'p50')}/${fmtP(p, 'p90')}/${fmtP(p, 'p99')}/${fmtP(p, 'max')}`;
    const app = Object.entries(r.cpuSeconds).filter(([k]) => ['api', 'worker', 'app', 'relay', 'bench'].includes(k));
    const stack = ['temporal', 'minio', 'kafka', 'postgres'].map((k) => r.cpuSeconds[k] ?? '-').join('/');
    const rss = Object.entries(r.peakRssMb).filter(([k]) => ['api', 'worker', 'app', 'relay'].includes(k));
    lines.push(
      `| ${r.path} | ${r.hot ? `hot, ${r.concurrency}` : r.concurrency} | ${r.throughput} | ${r.errors} | ${q(r.submitToCompleted)} | ${q(r.submitToKafka)} | ${q(r.submitToReadModel)} | ${app.map(([k, v]) => `${k} ${v}`).join(', ')} | ${stack} | ${rss.map(([k, v]) => `${k} ${v}`).join(', ')} |`,
    );
  }
  if (bulkResult) {
    lines.push('');
    const b = bulkResult as any;
    lines.push(`Bulk (workflow, BULK_CREATE_INSTANCES of ${b.instances}): ${b.status} in ${b.completed_s} s (accepted in ${b.accepted_ms} ms), all batches consumed from Kafka at ${b.kafka_s} s, read model complete at ${b.read_model_s} s (${b.batches} batch events; ${b.instances_per_s} instances/s). CPU s: ${Object.entries(b.cpuSeconds).map(([k, v]) => `${k} ${v}`).join(', ')}; peak RSS MB: ${Object.entries(b.peakRssMb).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  }
  const profiled = results.filter((r) => r.profile);
  if (profiled.length) {
    lines.push('');
    lines.push('Workflow path, where the time goes (p50 over sampled workflow histories; ms):');
    lines.push('');
    const keys = [...new Set(profiled.flatMap((r) => Object.keys(r.profile!)))];
    lines.push(`| metric | ${profiled.map((r) => r.scenario).join(' | ')} |`);
    lines.push(`|---|${profiled.map(() => '---:').join('|')}|`);
    for (const k of keys) lines.push(`| ${k.replace(' (p50)', '')} | ${profiled.map((r) => r.profile![k] ?? '-').join(' | ')} |`);
  }
  lines.push('');
  lines.push('Targets:');
  lines.push('');
  for (const t of targets()) lines.push(`- ${t}`);
  lines.push('');
  lines.push('Invariants:');
  lines.push('');
  for (const n of notes.filter((x) => x.includes('checked'))) lines.push(`- ${n}`);
  lines.push(violations.length ? `- **${violations.length} violation(s)**: ${violations.slice(0, 10).join('; ')}` : '- no violation');
  return lines.join('\n');
}

function targets(): string[] {
  const out: string[] = [];
  const get = (p: string, c: number) => results.find((r) => r.path === p && r.concurrency === c && !r.hot);
  const w32 = get('workflow', 32);
  const d32 = get('direct', 32);
  if (w32 && d32) {
    const ratio = w32.throughput / d32.throughput;
    out.push(`workflow throughput at 32 >= 50% of direct: ${w32.throughput} vs ${d32.throughput} cmd/s = ${Math.round(ratio * 100)}% — ${ratio >= 0.5 ? 'MET' : 'MISSED'}`);
  }
  const w1 = get('workflow', 1);
  if (w1?.submitToKafka) out.push(`workflow p50 submit->Kafka at 1 <= 100 ms: ${w1.submitToKafka.p50} ms — ${w1.submitToKafka.p50 <= 100 ? 'MET' : 'MISSED'}`);
  if (bulkResult) {
    const b = bulkResult as any;
    const total = Math.max(b.completed_s ?? Infinity, b.kafka_s ?? Infinity, b.read_model_s ?? Infinity);
    out.push(`bulk ${b.instances} stored, delivered, projected <= 60 s: ${total} s — ${total <= 60 && b.instances >= 100000 ? 'MET' : b.instances < 100000 ? `(only ${b.instances} instances in this run)` : 'MISSED'}`);
  }
  const w128 = get('workflow', 128);
  if (w128) {
    const wr = w128.peakRssMb.worker;
    const ar = w128.peakRssMb.api;
    out.push(`worker RSS <= 400 MB at 128: ${wr} MB — ${wr <= 400 ? 'MET' : 'MISSED'}; API RSS <= 200 MB at 128: ${ar} MB — ${ar <= 200 ? 'MET' : 'MISSED'}`);
  }
  return out;
}

function chart(): string {
  const paths = [...new Set(results.map((r) => r.path))];
  const tp: Series[] = paths.map((p) => ({ name: p, points: results.filter((r) => r.path === p && !r.hot).map((r) => ({ x: r.concurrency, y: r.throughput })) }));
  const p99: Series[] = paths.map((p) => ({ name: p, points: results.filter((r) => r.path === p && !r.hot && r.submitToCompleted).map((r) => ({ x: r.concurrency, y: r.submitToCompleted!.p99 })) }));
  return chartSvg(`spice-oms bench ${RUN} ${QUICK ? '(quick)' : ''} ${new Date().toISOString().slice(0, 16)}`, tp, p99);
}

function machine(): Record<string, unknown> {
  const v = (cmd: string) => {
    try {
      return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
    } catch {
      return 'unknown';
    }
  };
  return {
    nproc: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    memory_gb: Math.round(os.totalmem() / 1e9),
    node: process.version,
    kernel: os.release(),
    temporal_cli: v(`ls ${path.join(base.SPICE_CACHE_DIR, 'bin')} | grep temporal`),
    minio: v(`ls ${path.join(base.SPICE_CACHE_DIR, 'bin')} | grep minio`),
    postgres: v('postgres --version || /usr/lib/postgresql/15/bin/postgres --version'),
    loadavg_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

// ---------------------------------------------------------------- main
async function main(): Promise<void> {
  fs.mkdirSync(path.join(RESULTS, RUN, 'logs'), { recursive: true });
  const meta = { run: RUN, mode: QUICK ? 'quick' : 'full', date: new Date().toISOString(), paths: PATHS, levels: LEVELS, measure_s: MEASURE_S, warmup_s: WARMUP_S, bulk: BULK, worker: WORKER, machine: machine() };
  // Isolation: a database and a bucket of this run; topics, schemas and prefixes per path.
  const admin = new Pool({ connectionString: base.databaseUrl, max: 1 });
  await admin.query(`CREATE DATABASE ${PG_DB}`);
  await admin.end();
  const runConfig: Config = loadConfig({ ...process.env, PG_DATABASE: PG_DB, S3_BUCKET: BUCKET });
  const pool = new Pool({ connectionString: runConfig.databaseUrl, max: 4 });
  const s3 = createS3Client(runConfig);
  const kafkaClient = new Kafka({ clientId: 'spice-bench', brokers: runConfig.kafkaBrokers, logLevel: logLevel.NOTHING });
  const mon = new ProcMonitor();
  mon.start(250);
  const bar = new cliProgress.SingleBar({ format: 'bench [{bar}] {percentage}% | {duration_formatted} | {phase}', hideCursor: true, etaBuffer: 50 }, cliProgress.Presets.shades_classic);
  bar.start(PATHS.length * 100, 0, { phase: 'starting' });
  let failed: unknown;
  try {
    for (const [i, p] of PATHS.entries()) await runPath(p, mon, bar, i * 100, 100, pool, s3, kafkaClient);
  } catch (err) {
    failed = err;
  } finally {
    bar.stop();
    mon.stop();
  }
  const out = { ...meta, results, bulk: bulkResult, targets: targets(), notes, violations, error: failed ? String((failed as Error).stack ?? failed) : undefined };
  fs.writeFileSync(path.join(RESULTS, `${RUN}.json`), JSON.stringify(out, null, 2));
  const md = markdown(meta);
  fs.writeFileSync(path.join(RESULTS, `${RUN}.md`), md + '\n');
  if (results.length) {
    const svg = chart();
    fs.writeFileSync(path.join(RESULTS, `${RUN}.svg`), svg);
    fs.writeFileSync(path.join(ROOT, 'bench', 'latest-chart.svg'), svg);
  }
  await pool.end();
  s3.destroy();
  process.stdout.write(`\n${md}\n\n${notes.join('\n')}\n\nresults: bench/results/${RUN}.json, .md, .svg; chart bench/latest-chart.svg\n`);
  if (failed) {
    process.stderr.write(`bench failed: ${(failed as Error).stack ?? failed}\n`);
    process.exit(2);
  }
  if (violations.length) {
    process.stderr.write(`INVARIANT VIOLATIONS (${violations.length}):\n${violations.join('\n')}\n`);
    process.exit(1);
  }
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});

/** One path end to end: start its processes, set up the ontology, run every scenario (and the bulk), check invariants, stop. */
import fs from 'node:fs';
import path from 'node:path';
import type cliProgress from 'cli-progress';
import type { Kafka } from 'kafkajs';
import { Pool } from 'pg';
import { Client, Connection } from '@temporalio/client';
import type { createS3Client } from '../../src/adapters/s3/s3-client';
import { runBulk } from './bulk';
import { inlineClient, restClient, type PathEnv } from './clients';
import { checkInvariants } from './invariants';
import { KafkaTracker, ReadModelWatcher } from './observers';
import { BULK, CLASS, CPU_PROF, HOT, HOT_CLIENTS, LEVELS, ONTO_DB, PG_DB, RESULTS, RUN, S3_ROOT, SERVER_TEMPORAL, WORKER, WORKFLOW_PATHS, base, opt, sleep, storeOf, workerProcesses } from './options';
import { perfRecord } from './server-profile';
import { freePort, startChild, stopChild, waitHttp, type Child } from './processes';
import { ProcMonitor, sample, stackPids } from './procstats';
import { profileWorkflows } from './profile';
import type { Rec, Report } from './records';
import { runScenario } from './scenario';
import { loadConfig } from '../../src/app/config';
import { temporalConnectionOptions } from '../../src/app/temporal-connection';
import { deleteReconcileSchedule } from '../../src/app/reconcile-schedule';
import { bundleInChildProcess } from '../../src/app/command-worker';
import { ensureTemporalServer, type RunningTemporalServer } from '../../scripts/stack/temporal-server';

export async function runPath(
  report: Report,
  pathName: string,
  mon: ProcMonitor,
  bar: cliProgress.SingleBar,
  barBase: number,
  barPer: number,
  runPool: Pool,
  s3: ReturnType<typeof createS3Client>,
  kafkaClient: Kafka,
): Promise<void> {
  const logDir = path.join(RESULTS, RUN, 'logs', pathName);
  fs.mkdirSync(logDir, { recursive: true });
  const topic = `bench-${RUN}-${pathName}`;
  const store = storeOf(pathName);
  const common = { PG_DATABASE: store.pgDb, S3_BUCKET: store.bucket, ...S3_ROOT, KAFKA_TOPIC: topic, LOG_LEVEL: 'warn' };
  const ownPool = store.pgDb === PG_DB ? undefined : await createDatabase(runPool, store.pgDb);
  const pool = ownPool ?? runPool;
  let env: PathEnv;
  const children: Child[] = [];
  let temporal: { client: Client; connection: Connection } | undefined;
  bar.update(barBase, { phase: `${pathName}: starting processes` });
  const taskQueue = `bench-${RUN}-${pathName}`;
  let kafka: KafkaTracker | undefined;
  let rm: ReadModelWatcher | undefined;
  const isWorkflow = WORKFLOW_PATHS.includes(pathName);
  let server: RunningTemporalServer | undefined;
  const profDir = path.join(RESULTS, RUN, 'prof', pathName);
  const nodeArgs = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  let serverProfile: ReturnType<typeof perfRecord> | undefined;
  try {
    if (isWorkflow) {
      const port = await freePort();
      let tcfg = base;
      if (pathName === 'workflow-server') {
        bar.update(barBase, { phase: `${pathName}: starting the Temporal server` });
        const t0 = Date.now();
        server = await ensureTemporalServer(SERVER_TEMPORAL);
        tcfg = SERVER_TEMPORAL;
        report.notes.push(
          `${pathName}: Temporal server ${server.address} ${server.pid ? `started (schema check, start, namespace and search attributes) in ${((Date.now() - t0) / 1000).toFixed(1)} s` : 'found running (its CPU is not measured)'}`,
        );
      }
      // Connected before the worker starts: whatever fails after, the finally can delete the schedule the worker made.
      const connection = await Connection.connect(temporalConnectionOptions(tcfg));
      temporal = { connection, client: new Client({ connection, namespace: tcfg.TEMPORAL_NAMESPACE }) };
      // The load generator is one client: per-key limits would measure the limiter, not the pipeline.
      const e = {
        ...common,
        API_PORT: String(port),
        TEMPORAL_ADDRESS: tcfg.temporalAddress,
        TEMPORAL_TASK_QUEUE: taskQueue,
        API_RATE_LIMIT: '1000000',
        API_BULK_RATE_LIMIT: '100000',
        API_MAX_INFLIGHT_COMMANDS: '1000000',
      };
      const workers = workerProcesses(pathName);
      // Several workers share one bundle built once, instead of each bundling the same code at start.
      const bundle: Record<string, string> = workers > 1 && WORKER === 'shipped' ? { WORKER_WORKFLOW_BUNDLE: (await workflowBundle()).codePath } : {};
      for (let w = 1; w <= workers; w++) {
        children.push(await startChild(w === 1 ? 'worker' : `worker-${w}`, [...nodeArgs, WORKER === 'bench' ? 'bench/worker.ts' : 'worker.ts'], { ...e, ...bundle }, null, logDir));
      }
      children.push(await startChild('api', [...nodeArgs, 'src/app/api-server.ts'], workers === 0 ? { ...e, API_EMBEDDED_WORKER: 'true' } : e, null, logDir));
      await waitHttp(`http://127.0.0.1:${port}/health`);
      env = {
        name: pathName,
        ...restClient(`http://127.0.0.1:${port}`),
        bucket: store.bucket,
        schema: 'spice',
        rmSchema: 'read_models',
        prefix: '',
        topic,
        children,
        commandIdsForProfile: [],
        apiUrl: `http://127.0.0.1:${port}`,
      };
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
      env = { name: pathName, ...inlineClient(`http://127.0.0.1:${port}`), bucket: store.bucket, schema, rmSchema: `${schema}_rm`, prefix: `${schema}/`, topic, children };
    }
    // On the server backend, "temporal" is the server this path runs on, not the stack's dev server.
    const stack = server ? [...stackPids().filter((t) => t.name !== 'temporal'), ...(server.pid ? [{ name: 'temporal', pid: server.pid }] : [])] : stackPids();
    mon.tracked = [...children.map((c) => ({ name: c.name, pid: c.proc.pid! })), { name: 'bench', pid: process.pid }, ...stack];
    if (CPU_PROF) serverProfile = perfRecord(mon.tracked.find((t) => t.name === 'temporal')?.pid, profDir);
    kafka = new KafkaTracker(kafkaClient, topic);
    rm = new ReadModelWatcher(pool, env.rmSchema);
    const allRecs: Rec[] = [];
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
    // The bulk runs on the first workflow path only: the report has one bulk figure.
    const bulk = pathName === WORKFLOW_PATHS[0] && BULK;
    const span = barPer / (scenarios.length + (bulk ? 2 : 0));
    let k = 0;
    for (const sc of scenarios) {
      const { res, recs } = await runScenario(report, env, sc.name, sc.clients, sc.hot, kafka, rm, mon, bar, barBase + span * k++, span);
      allRecs.push(...recs);
      report.results.push(res);
    }
    if (bulk) {
      report.bulk = await runBulk(report.violations, env, kafka, pool, mon, bar, barBase + span * k, span * 2);
    }
    bar.update(barBase + barPer, { phase: `${pathName}: checking invariants` });
    const inv = await checkInvariants(report.violations, env, allRecs, kafka, pool, s3);
    report.notes.push(
      `${pathName}: checked ${inv.streams} streams / ${inv.events} events in S3, ledger, Kafka (${inv.kafkaDuplicates} duplicate deliveries) and read models: ${inv.violations} violation(s)`,
    );
    if (temporal && env.commandIdsForProfile?.length) {
      bar.update(barBase + barPer, { phase: `${pathName}: reading workflow histories` });
      const byCmd = new Map(allRecs.filter((r) => r.commandId).map((r) => [r.commandId!, r]));
      const prof = await profileWorkflows(temporal.client, env.commandIdsForProfile, byCmd);
      for (const r of report.results) if (r.path === pathName && prof[r.scenario]) r.profile = prof[r.scenario];
    }
  } finally {
    await serverProfile?.stop();
    rm?.stop();
    await kafka?.stop();
    for (const c of [...children].reverse()) {
      const t = mon.tracked.find((x) => x.name === c.name);
      if (t) report.notes.push(`${pathName}: ${c.name} VmHWM (lifetime peak RSS) ${Math.round(sample(t).hwm / 1048576)} MB`);
      await stopChild(c);
    }
    if (temporal) {
      // The run's queue is served by no one once its worker stops: its reconciliation schedule would fire forever.
      await deleteReconcileSchedule(temporal.client, taskQueue).catch((err) => report.notes.push(`${pathName}: reconciliation schedule of ${taskQueue} not deleted: ${String(err)}`));
      await temporal.connection.close();
    }
    await server?.stop();
    await ownPool?.end();
  }
}

/** A database of the run beside its main one, and a pool on it. */
async function createDatabase(runPool: Pool, db: string): Promise<Pool> {
  await runPool.query(`CREATE DATABASE ${db}`);
  return new Pool({ connectionString: loadConfig({ ...process.env, PG_DATABASE: db }).databaseOwnerUrl, max: 4 });
}

let bundled: Promise<{ codePath: string }> | undefined;
// Traced or not as the shipped worker would bundle it (worker.ts).
const workflowBundle = () => (bundled ??= bundleInChildProcess(base.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined));

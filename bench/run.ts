/**
 * End-to-end benchmark (not a test): `npm run bench [-- --quick] [--paths workflow,direct,poll-5000,poll-100]
 * [--levels 1,8,32,128] [--no-hot] [--no-bulk] [--bulk 100000] [--measure 25] [--warmup 5] [--worker shipped|bench] [--chart]
 * [--temporal dev,server] [--server-port 17233] [--keep]`.
 *
 * Runs one workload through three paths against the local stack, each in its own processes:
 *   workflow   the shipped API (src/app/api-server.ts) and worker (worker.ts): REST -> Temporal -> S3 -> ledger -> Kafka + read models;
 *              with --temporal dev,server once per Temporal backend: `workflow` on the stack's dev server, `workflow-server` on
 *              the Temporal server on PostgreSQL (started on --server-port for the path and stopped after it, its own
 *              database and bucket), reported side by side
 *   direct     bench/inline-server.ts: the same activity code and adapters inline per request, no Temporal (the floor)
 *   poll-N     bench/inline-server.ts (S3 + outbox row per request) + bench/poll-relay.ts (outbox polled every N ms,
 *              published to Kafka; a Kafka consumer projects): the design being replaced
 * Every run checks what it wrote (S3 index keys, ledger rows, Kafka order, read models) and exits 1 on a violation.
 * Results: bench/results/<run>.json, .md and .svg (git-ignored); --chart also copies the chart to the tracked
 * bench/latest-chart.svg. The run leaves no schedule behind (its worker's reconciliation schedule is deleted),
 * and, unless --keep, none of its databases, buckets and topics (bench/lib/cleanup.ts).
 * The parts live in bench/lib/: options (command line), processes, clients (each path's client),
 * observers (Kafka, read models), scenario (load generation), bulk, invariants, profile, paths, report.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Pool } from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import cliProgress from 'cli-progress';
import { loadConfig, Config } from '../src/app/config';
import { createS3Client } from '../src/adapters/s3/s3-client';
import { BUCKET, BULK, CHART, KEEP, LEVELS, MEASURE_S, PATHS, PG_DB, QUICK, RESULTS, ROOT, RUN, S3_ROOT, TEMPORAL_BACKENDS, WARMUP_S, WORKER, base } from './lib/options';
import { runPath } from './lib/paths';
import { dropRunResources } from './lib/cleanup';
import { ProcMonitor } from './lib/procstats';
import type { Report } from './lib/records';
import { chart, machine, markdown, targets } from './lib/report';

async function main(): Promise<void> {
  fs.mkdirSync(path.join(RESULTS, RUN, 'logs'), { recursive: true });
  const meta = {
    run: RUN,
    mode: QUICK ? 'quick' : 'full',
    date: new Date().toISOString(),
    paths: PATHS,
    levels: LEVELS,
    measure_s: MEASURE_S,
    warmup_s: WARMUP_S,
    bulk: BULK,
    worker: WORKER,
    temporal: TEMPORAL_BACKENDS,
    machine: machine(),
  };
  // Isolation: a database and a bucket of this run; topics, schemas and prefixes per path.
  const admin = new Pool({ connectionString: base.databaseOwnerUrl, max: 1 });
  await admin.query(`CREATE DATABASE ${PG_DB}`);
  await admin.end();
  const runConfig: Config = loadConfig({ ...process.env, PG_DATABASE: PG_DB, S3_BUCKET: BUCKET, ...S3_ROOT });
  const pool = new Pool({ connectionString: runConfig.databaseOwnerUrl, max: 4 });
  const s3 = createS3Client(runConfig);
  const kafkaClient = new Kafka({ clientId: 'spice-bench', brokers: runConfig.kafkaBrokers, logLevel: logLevel.NOTHING });
  const report: Report = { results: [], violations: [], notes: [] };
  const mon = new ProcMonitor();
  mon.start(250);
  const bar = new cliProgress.SingleBar({ format: 'bench [{bar}] {percentage}% | {duration_formatted} | {phase}', hideCursor: true, etaBuffer: 50 }, cliProgress.Presets.shades_classic);
  bar.start(PATHS.length * 100, 0, { phase: 'starting' });
  let failed: unknown;
  try {
    for (const [i, p] of PATHS.entries()) await runPath(report, p, mon, bar, i * 100, 100, pool, s3, kafkaClient);
  } catch (err) {
    failed = err;
  } finally {
    bar.stop();
    mon.stop();
  }
  const { results, notes, violations } = report;
  const out = { ...meta, results, bulk: report.bulk, targets: targets(report), notes, violations, error: failed ? String((failed as Error).stack ?? failed) : undefined };
  fs.writeFileSync(path.join(RESULTS, `${RUN}.json`), JSON.stringify(out, null, 2));
  const md = markdown(report, meta);
  fs.writeFileSync(path.join(RESULTS, `${RUN}.md`), md + '\n');
  if (results.length) {
    const svg = chart(results);
    fs.writeFileSync(path.join(RESULTS, `${RUN}.svg`), svg);
    if (CHART) fs.writeFileSync(path.join(ROOT, 'bench', 'latest-chart.svg'), svg);
  }
  await pool.end();
  const leftBehind = await dropRunResources(s3, kafkaClient);
  s3.destroy();
  process.stdout.write(`\n${md}\n\n${notes.join('\n')}\n\nresults: bench/results/${RUN}.json, .md, .svg${CHART ? '; chart bench/latest-chart.svg' : ''}\n`);
  process.stdout.write(KEEP ? `kept: database ${PG_DB}*, bucket ${BUCKET}*, topics bench-${RUN}-*\n` : leftBehind.length ? `not removed: ${leftBehind.join('; ')}\n` : '');
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

/** The benchmark's command line (see bench/run.ts) and the names of this run's isolated resources. */
import path from 'node:path';
import { loadConfig } from '../../src/app/config';
import { temporalServerEnv } from '../../scripts/stack/temporal-server';

const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(`--${n}`);
export const opt = (n: string): string | undefined => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
export const QUICK = flag('quick');
const ALL_PATHS = ['workflow', 'direct', 'poll-5000', 'poll-100'];
/**
 * --temporal dev,server: the workflow path once per Temporal backend, side by side: `workflow` on the
 * stack's dev server, `workflow-server` on the Temporal server on PostgreSQL (scripts/stack/temporal-server.ts).
 */
const BACKENDS = ['dev', 'server'] as const;
export const TEMPORAL_BACKENDS = (opt('temporal') ?? 'dev').split(',');
for (const b of TEMPORAL_BACKENDS) if (!(BACKENDS as readonly string[]).includes(b)) throw new Error(`unknown --temporal backend ${b} (dev, server)`);
/**
 * Scale-out (`--workers 1,2,4,embedded`): on the dev server, the workflow path also once per worker
 * count other than 1 (`workflow-w2`, `workflow-w4`: that many worker processes on its queue) and with
 * the worker inside the API process (`workflow-embedded`); `workflow` itself is the one-worker case.
 */
const WORKER_VARIANTS = (opt('workers') ?? '1')
  .split(',')
  .filter((w) => w !== '1')
  .map((w) => (w === 'embedded' ? 'workflow-embedded' : `workflow-w${w}`));
for (const v of WORKER_VARIANTS) if (!/^workflow-(w[1-9]\d*|embedded)$/.test(v)) throw new Error(`unknown --workers variant ${v.slice(9)} (a count, or embedded)`);
export const WORKFLOW_PATHS = [...TEMPORAL_BACKENDS.map((b) => (b === 'dev' ? 'workflow' : `workflow-${b}`)), ...WORKER_VARIANTS];
/** A workflow path's worker processes (0: the worker is embedded in the API). */
export function workerProcesses(pathName: string): number {
  if (pathName === 'workflow-embedded') return 0;
  return pathName.startsWith('workflow-w') ? Number(pathName.slice('workflow-w'.length)) : 1;
}
export const PATHS = (opt('paths')?.split(',') ?? ALL_PATHS).flatMap((p) =>
  p === 'workflow' ? WORKFLOW_PATHS : p === 'poll' ? ['poll-5000', 'poll-100'] : p.startsWith('poll') && !p.includes('-') ? [] : [p],
);
export const LEVELS = (opt('levels') ?? '1,8,32,128').split(',').map(Number);
export const HOT = !flag('no-hot');
export const BULK = flag('no-bulk') ? 0 : Number(opt('bulk') ?? (QUICK ? 5000 : 100_000));
export const MEASURE_S = Number(opt('measure') ?? (QUICK ? 4 : 20));
export const WARMUP_S = Number(opt('warmup') ?? (QUICK ? 1 : 5));
export const HOT_CLIENTS = 16;
export const WORKER = opt('worker') ?? 'shipped';
/** bench/latest-chart.svg is tracked: rewritten only when asked (--chart), every run has its own chart in bench/results. */
export const CHART = flag('chart');
/** Keep the run's databases, buckets and topics for inspection (by default the run removes them at the end). */
export const KEEP = flag('keep');
/**
 * `--cpu-prof`: the API and worker processes run with node's --cpu-prof, and `perf record` samples the
 * Temporal server while the path runs; bench/profile-summary.ts reads both (bench/results/<run>/prof/<path>/).
 */
export const CPU_PROF = flag('cpu-prof');
export const PROFILE_SAMPLES = QUICK ? 10 : 40;
for (const p of PATHS) if (!ALL_PATHS.includes(p) && !WORKFLOW_PATHS.includes(p) && !/^poll-\d+$/.test(p)) throw new Error(`unknown path ${p}`);

export const ROOT = path.resolve(__dirname, '..', '..');
export const RESULTS = path.join(ROOT, 'bench', 'results');
export const RUN = `b${Date.now().toString(36)}`;
// Each run has a bucket of its own, which the application's least-privilege user may not reach:
// the run's processes (children inherit this environment) use the stack's operator credentials.
const stack = loadConfig();
process.env.S3_ACCESS_KEY ??= stack.MINIO_ROOT_USER;
process.env.S3_SECRET_KEY ??= stack.MINIO_ROOT_PASSWORD;
export const base = loadConfig();
/** The server backend's Temporal, beside the stack's: started for the run unless one answers there (--server-port, default 17233). */
export const SERVER_TEMPORAL = loadConfig(temporalServerEnv(Number(opt('server-port') ?? 17233)));
export const PG_DB = `spice_bench_${RUN}`;
export const BUCKET = `spice-bench-${RUN}`;
/** A bucket per run is outside the application user's policy (its one bucket only, README "Least privilege"): the run's processes use MinIO's root. */
export const S3_ROOT = { S3_ACCESS_KEY: base.MINIO_ROOT_USER, S3_SECRET_KEY: base.MINIO_ROOT_PASSWORD };
export const ONTO_DB = 'bench';
/** A workflow path on another backend or with another worker layout stores in a database and bucket of its own: the shipped API's schemas and prefix are fixed. */
export const storeOf = (pathName: string) => (pathName.startsWith('workflow-') ? { pgDb: `${PG_DB}_${pathName.slice(9)}`, bucket: `${BUCKET}-${pathName.slice(9)}` } : { pgDb: PG_DB, bucket: BUCKET });
export const CLASS = 'Item';
export const now = () => performance.timeOrigin + performance.now();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

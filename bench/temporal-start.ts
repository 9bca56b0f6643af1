/**
 * How quickly each Temporal backend of the local stack is ready to serve (issue 18 item 1: the
 * dev server stays the default unless the server starts as quickly), not a test:
 *   npx tsx bench/temporal-start.ts [--runs 3] [--port 17533]
 *
 * Each run starts the backend on spare ports beside the stack's own Temporal and times it until
 * `operator cluster health` answers SERVING and the namespace and the custom search attributes are
 * in place, then stops it by pid. "first" starts from nothing (a new SQLite file; new PostgreSQL
 * databases, created and migrated by the schema tool, dropped at the end); "again" starts on the
 * state the first start left, as `npm start` does on a machine that has run it before.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { loadConfig } from '../src/app/config';
import { buildServices, stackPaths, waitHealthy } from '../scripts/stack/services';
import { spawnDetached, stopPid } from '../scripts/stack/proc';
import { ensureTemporalServer, temporalServerEnv } from '../scripts/stack/temporal-server';
import { opt } from './lib/options';
import { pct } from './lib/stats';

const RUNS = Number(opt('runs') ?? 3);
const PORT = Number(opt('port') ?? 17533);
const secs = (t0: number) => (performance.now() - t0) / 1000;

/** The stack's dev server spec on `port`, its SQLite file in `dir` instead of the stack's. */
async function devServerSeconds(port: number, dir: string): Promise<number> {
  const cfg = loadConfig({ ...temporalServerEnv(port), TEMPORAL_UI_PORT: String(port + 4) });
  const p = stackPaths(cfg);
  const spec = buildServices(cfg, p).find((s) => s.name === 'temporal')!;
  const t0 = performance.now();
  const { cmd, args } = await spec.prepare();
  args[args.indexOf('--db-filename') + 1] = path.join(dir, 'temporal.db');
  const log = path.join(p.logs, `temporal-start-bench-${port}.log`);
  const pid = spawnDetached(cmd, args, log);
  try {
    await waitHealthy(spec, pid, log);
    return secs(t0);
  } finally {
    await stopPid(pid, 10_000);
  }
}

async function serverSeconds(port: number): Promise<number> {
  const t0 = performance.now();
  const server = await ensureTemporalServer(loadConfig(temporalServerEnv(port)));
  const s = secs(t0);
  if (!server.pid) throw new Error(`a Temporal server already answers on ${port}: choose another --port`);
  await server.stop();
  return s;
}

async function main(): Promise<void> {
  const load = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const rows: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-start-'));
  const admin = new Pool({ connectionString: loadConfig().databaseOwnerUrl, max: 1 });
  try {
    const start = { dev: (state: string) => devServerSeconds(PORT, state), server: () => serverSeconds(PORT) };
    for (const backend of ['dev', 'server'] as const) {
      const firsts: number[] = [];
      const agains: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        // A new state per "first" start: a new SQLite directory, or the server's databases dropped.
        if (backend === 'server') for (const db of [`temporal_${PORT}`, `temporal_visibility_${PORT}`]) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
        const state = fs.mkdtempSync(path.join(dir, 'db-'));
        firsts.push(await start[backend](state));
        agains.push(await start[backend](state));
        process.stderr.write(`${backend} run ${i + 1}: first ${firsts.at(-1)!.toFixed(1)} s, again ${agains.at(-1)!.toFixed(1)} s\n`);
      }
      const f = (xs: number[]) => {
        const q = pct(xs.map((x) => x * 1000))!;
        return `${(q.p50 / 1000).toFixed(1)} | ${(q.max / 1000).toFixed(1)}`;
      };
      rows.push(`| ${backend === 'dev' ? 'dev server (SQLite)' : 'server (PostgreSQL)'} | first | ${RUNS} | ${f(firsts)} |`, `| | again | ${RUNS} | ${f(agains)} |`);
    }
  } finally {
    for (const db of [`temporal_${PORT}`, `temporal_visibility_${PORT}`]) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const end = os.loadavg().map((x) => Math.round(x * 100) / 100);
  process.stdout.write(
    [
      `${new Date().toISOString()}, ${os.cpus().length} cores, load average ${load.join(' ')} at start, ${end.join(' ')} at end; seconds from start to SERVING with namespace and search attributes.`,
      '',
      '| backend | start | runs | p50 s | max s |',
      '|---|---|---:|---:|---:|',
      ...rows,
      '',
    ].join('\n'),
  );
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`temporal-start bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});

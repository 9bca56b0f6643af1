/** Process helpers of the stack manager: foreground steps with a log file, detached services by pid. */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export class StackError extends Error {
  constructor(
    readonly service: string,
    message: string,
    readonly logFile?: string,
  ) {
    super(`${service}: ${message}${logFile ? ` (log: ${logFile})` : ''}`);
  }
}

export function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
  service: string;
  uid?: number;
  gid?: number;
}

/** Runs a step to completion, its output appended to logFile; a failure names the service and the log. */
export function run(cmd: string, args: string[], o: RunOptions): Promise<void> {
  fs.mkdirSync(path.dirname(o.logFile), { recursive: true });
  const fd = fs.openSync(o.logFile, 'a');
  fs.writeSync(fd, `\n$ ${cmd} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: o.env ?? process.env, cwd: o.cwd, stdio: ['ignore', fd, fd], uid: o.uid, gid: o.gid });
    child.once('error', (e) => {
      fs.closeSync(fd);
      reject(new StackError(o.service, `cannot run ${cmd}: ${e.message}`, o.logFile));
    });
    child.once('exit', (code, signal) => {
      fs.closeSync(fd);
      if (code === 0) resolve();
      else reject(new StackError(o.service, `${path.basename(cmd)} ${args[0] ?? ''} failed (${signal ?? `exit ${code}`}): ${lastLine(o.logFile)}`, o.logFile));
    });
  });
}

/**
 * Runs a short command and collects its output. Secrets go in `input` (its stdin) or `env`, never
 * in `args`: a command line is visible to every user in `ps`.
 */
export function runQuiet(cmd: string, args: string[], timeoutMs = 5000, o: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(cmd, args, { stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], timeout: timeoutMs, env: o.env ?? process.env });
    if (o.input !== undefined) child.stdin!.end(o.input);
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.once('error', (e) => resolve({ ok: false, output: e.message }));
    child.once('exit', (code) => resolve({ ok: code === 0, output: out }));
  });
}

export function lastLine(file: string): string {
  try {
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('go: downloading'));
    return (lines.pop() ?? '').slice(0, 300);
  } catch {
    return '';
  }
}

/** Starts a service in its own process group, detached from us, its output to its log file. */
export function spawnDetached(cmd: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv, uid?: number, gid?: number): number {
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = fs.openSync(logFile, 'a');
  fs.writeSync(fd, `\n=== ${new Date().toISOString()} start: ${cmd} ${args.join(' ')}\n`);
  const child = spawn(cmd, args, { env: env ?? process.env, detached: true, stdio: ['ignore', fd, fd], uid, gid });
  fs.closeSync(fd);
  if (child.pid === undefined) throw new Error(`cannot start ${cmd}`);
  child.unref();
  return child.pid;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0): look at its state.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

export async function stopPid(pid: number, graceMs: number, first: NodeJS.Signals = 'SIGTERM', group = true): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(group ? -pid : pid, s);
    } catch {
      try {
        process.kill(pid, s);
      } catch {
        /* already gone */
      }
    }
  };
  signal(first);
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) signal('SIGKILL');
  while (isAlive(pid)) await sleep(50);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

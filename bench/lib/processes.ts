/** The child processes of a path (API, worker, inline app, relay): start, wait until ready, stop. */
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT, sleep } from './options';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
    s.on('error', reject);
  });
}

export interface Child {
  name: string;
  proc: ChildProcess;
}

export function startChild(name: string, args: string[], env: Record<string, string>, ready: RegExp | null, logDir: string): Promise<Child> {
  const out = fs.openSync(path.join(logDir, `${name}.log`), 'a');
  const proc = spawn(process.execPath, ['--require', 'tsx/cjs', ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', out] });
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

export async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null) return;
  const exited = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGTERM');
  await Promise.race([exited, sleep(15_000)]);
  if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
}

export async function waitHttp(url: string, timeoutMs = 120_000): Promise<void> {
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

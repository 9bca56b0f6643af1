/**
 * The Temporal server's CPU profile while a path runs (`--cpu-prof`). The dev server is a Go binary
 * without a pprof endpoint, so `perf record -g` samples its on-CPU stacks. Written beside the node
 * profiles: temporal.perf.txt (flat, by symbol) and temporal.calls.json, each sample attributed to the
 * gRPC call it served (the outermost handler on its stack: frontend, history and matching calls
 * alike, the dev server runs them all in one process) or to background work, and the share of
 * samples inside SQLite; bench/profile-summary.ts prints both.
 */
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from './options';

export function perfRecord(pid: number | undefined, dir: string): { stop(): Promise<void> } | undefined {
  if (pid === undefined) return undefined;
  fs.mkdirSync(dir, { recursive: true });
  const data = path.join(dir, 'temporal.perf.data');
  const proc = spawn('perf', ['record', '-F', '199', '-g', '-p', String(pid), '-o', data], { stdio: 'ignore' });
  // perf is optional: without it the run goes on with the node profiles only.
  proc.on('error', () => undefined);
  return {
    async stop() {
      if (proc.exitCode !== null || proc.pid === undefined) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGINT');
      await Promise.race([exited, sleep(10_000)]);
      try {
        const report = execFileSync('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', 'sym', '--percent-limit', '0.05'], {
          encoding: 'utf8',
          maxBuffer: 64 << 20,
          stdio: ['ignore', 'pipe', 'ignore'],
        });
        fs.writeFileSync(path.join(dir, 'temporal.perf.txt'), report);
        const stacks = execFileSync('perf', ['script', '-i', data, '-F', 'ip,sym'], { encoding: 'utf8', maxBuffer: 512 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
        fs.writeFileSync(path.join(dir, 'temporal.calls.json'), JSON.stringify(byCall(stacks), null, 1));
      } catch {
        // No report: the summary says the server was not profiled.
      }
    },
  };
}

/** Per sample (stacks separated by blank lines, leaf first): the call it served, and whether it was in SQLite. */
export function byCall(script: string): { samples: number; sqlite: number; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  let samples = 0;
  let sqlite = 0;
  for (const stack of script.split(/\n\s*\n/)) {
    const frames = stack
      .split('\n')
      .map((l) => l.trim().replace(/^[0-9a-f]+\s+/, ''))
      .filter(Boolean);
    if (!frames.length) continue;
    samples++;
    if (frames.some((f) => f.includes('modernc.org/sqlite'))) sqlite++;
    let call: string | undefined;
    for (const f of frames) {
      const m = /_(\w+Service)_(\w+)_Handler/.exec(f);
      if (m) call = `${m[1]}.${m[2]}`;
    }
    call ??= background(frames);
    calls[call] = (calls[call] ?? 0) + 1;
  }
  return { samples, sqlite, calls };
}

function background(frames: string[]): string {
  const has = (s: string) => frames.some((f) => f.includes(s));
  if (has('runtime.gcBgMarkWorker') || has('runtime.bgsweep') || has('runtime.bgscavenge')) return '(background) garbage collector';
  if (has('service/history/queues') || has('service/history/replication')) return '(background) history task queues (transfer, timer, visibility)';
  if (has('service/matching')) return '(background) matching';
  if (has('persistence')) return '(background) persistence';
  if (has('google.golang.org/grpc')) return '(background) gRPC transport';
  if (has('tally')) return '(background) metrics';
  return '(background) other';
}

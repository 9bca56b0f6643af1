/** CPU seconds and RSS of processes from /proc (Linux): utime+stime, VmRSS sampled, VmHWM. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const TICK = 100; // getconf CLK_TCK on Linux x86-64 / arm64

function stat(pid: number): { ppid: number; cpu: number; childCpu: number } | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / TICK, childCpu: (Number(f[13]) + Number(f[14])) / TICK };
  } catch {
    return null;
  }
}

function status(pid: number): { rss: number; hwm: number } {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = stat(Number(d));
    if (st?.ppid === pid) out.push(Number(d));
  }
  return out;
}

export interface Tracked {
  name: string;
  pid: number;
  /** Sum the process and its children (PostgreSQL: postmaster + backends). */
  tree?: boolean;
}

export interface Sample {
  cpu: number;
  rss: number;
  hwm: number;
}

export function sample(t: Tracked): Sample {
  const s = stat(t.pid);
  if (!s) return { cpu: 0, rss: 0, hwm: 0 };
  let cpu = s.cpu;
  let { rss, hwm } = status(t.pid);
  if (t.tree) {
    cpu += s.childCpu; // reaped backends
    for (const c of childrenOf(t.pid)) {
      const cs = stat(c);
      const st = status(c);
      cpu += cs?.cpu ?? 0;
      rss += st.rss;
      hwm += st.hwm;
    }
  }
  return { cpu, rss, hwm };
}

export function stackPids(cacheDir = process.env.SPICE_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'spice-oms')): Tracked[] {
  const dir = path.join(cacheDir, 'run');
  const out: Tracked[] = [];
  for (const name of ['temporal', 'minio', 'kafka', 'postgres']) {
    try {
      const { pid } = JSON.parse(fs.readFileSync(path.join(dir, `${name}.pid`), 'utf8')) as { pid: number };
      out.push({ name, pid, tree: name === 'postgres' });
    } catch {
      /* not running */
    }
  }
  return out;
}

/** Samples the tracked processes every `everyMs`, keeping the peak RSS per process since the last mark. */
export class ProcMonitor {
  private peaks = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  tracked: Tracked[] = [];

  start(everyMs = 250): void {
    this.timer = setInterval(() => this.tick(), everyMs);
    this.timer.unref();
  }
  stop(): void {
    clearInterval(this.timer);
  }
  tick(): void {
    for (const t of this.tracked) {
      const { rss } = sample(t);
      this.peaks.set(t.name, Math.max(this.peaks.get(t.name) ?? 0, rss));
    }
  }
  /** CPU seconds so far per process. */
  cpu(): Record<string, number> {
    return Object.fromEntries(this.tracked.map((t) => [t.name, sample(t).cpu]));
  }
  resetPeaks(): void {
    this.peaks.clear();
    this.tick();
  }
  peaksMb(): Record<string, number> {
    this.tick();
    return Object.fromEntries([...this.peaks].map(([k, v]) => [k, Math.round(v / 1048576)]));
  }
}

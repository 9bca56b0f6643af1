/**
 * Where the CPU goes, from a `--cpu-prof` bench run: `npx tsx bench/profile-summary.ts
 * bench/results/<run>/prof/<path> [commands]`. Reads every node .cpuprofile there (API, workers) and
 * the Temporal server's `perf report` (temporal.perf.txt), and prints markdown: self time by
 * component (npm package, src/ directory, the workflow sandbox, node internals, GC) and the top
 * functions; with `commands` (completed while profiling) also ms per command.
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The component a frame belongs to: what a lever would change. */
function componentOf(fn: string, url: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.includes('workflow-bundle') || url.includes('spice-oms-bundle')) return 'workflow bundle (V8 sandbox)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const src = /\/(src\/[^/]+|bench|worker\.ts)/.exec(url);
  return src ? src[1]! : url.replace(/^.*\//, '');
}

function nodeProfile(file: string): { total: number; byComponent: Map<string, number>; byFunction: Map<string, number> } {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const byComponent = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') return;
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    total += ms;
    const c = componentOf(functionName, url);
    byComponent.set(c, (byComponent.get(c) ?? 0) + ms);
    const f = `${functionName || '(anonymous)'} ${c}:${lineNumber + 1}`;
    byFunction.set(f, (byFunction.get(f) ?? 0) + ms);
  });
  return { total, byComponent, byFunction };
}

/** `perf report --sort sym` lines: "  12.34%  [.] go.temporal.io/server/service/history.(*x).y". */
function perfProfile(file: string): Map<string, number> {
  const byPackage = new Map<string, number>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s+([\d.]+)%\s+\[(.)\]\s+(.+?)\s*$/.exec(line);
    if (!m) continue;
    const sym = m[3]!;
    const pkg = m[2] === 'k' ? '(kernel)' : goPackage(sym);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + Number(m[1]));
  }
  return byPackage;
}

function goPackage(sym: string): string {
  const slash = sym.lastIndexOf('/', sym.indexOf('(') >= 0 ? sym.indexOf('(') : sym.length);
  const dot = sym.indexOf('.', slash + 1);
  const pkg = dot > 0 ? sym.slice(0, dot) : sym;
  // Group the server's own packages by service, the rest by module.
  const t = /^go\.temporal\.io\/server\/((?:service\/)?[^/]+)/.exec(pkg);
  if (t) return `temporal server: ${t[1]}`;
  return pkg;
}

const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);

function main(): void {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: profile-summary <bench/results/<run>/prof/<path>> [commands]');
  const commands = Number(process.argv[3] ?? 0);
  const out: string[] = [];
  const per = (ms: number) => (commands ? ` | ${(ms / commands).toFixed(2)}` : '');
  const head = commands ? ' | ms/cmd' : '';
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
    const { total, byComponent, byFunction } = nodeProfile(path.join(dir, f));
    out.push(`### ${f}: ${(total / 1000).toFixed(1)} CPU-s on the JS thread (idle excluded)`, '');
    out.push(`| component | self s | % ${head} |`, `|---|---:|---:${commands ? '|---:' : ''}|`);
    for (const [k, ms] of top(byComponent, 15)) out.push(`| ${k} | ${(ms / 1000).toFixed(2)} | ${((100 * ms) / total).toFixed(1)}${per(ms)} |`);
    out.push('', `| top functions (self) | self s | % |`, '|---|---:|---:|');
    for (const [k, ms] of top(byFunction, 15)) out.push(`| \`${k.replace(/\|/g, '\\|')}\` | ${(ms / 1000).toFixed(2)} | ${((100 * ms) / total).toFixed(1)} |`);
    out.push('');
  }
  const calls = path.join(dir, 'temporal.calls.json');
  if (fs.existsSync(calls)) {
    const c = JSON.parse(fs.readFileSync(calls, 'utf8')) as { samples: number; sqlite: number; calls: Record<string, number> };
    out.push(`### Temporal server: on-CPU samples by the call they served (${c.samples} samples; ${((100 * c.sqlite) / c.samples).toFixed(1)}% inside SQLite)`, '');
    out.push('| call | % |', '|---|---:|');
    for (const [k, n] of top(new Map(Object.entries(c.calls)), 20)) out.push(`| ${k} | ${((100 * n) / c.samples).toFixed(1)} |`);
    out.push('');
  }
  const perf = path.join(dir, 'temporal.perf.txt');
  if (fs.existsSync(perf)) {
    out.push('### Temporal server (perf samples, % of its on-CPU time)', '', '| package | % |', '|---|---:|');
    for (const [k, pc] of top(perfProfile(perf), 20)) out.push(`| ${k} | ${pc.toFixed(1)} |`);
  } else out.push('Temporal server: not profiled (no perf report).');
  process.stdout.write(`${out.join('\n')}\n`);
}

main();

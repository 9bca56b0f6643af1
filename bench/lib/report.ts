/** The run's report: the markdown table, the targets met or missed, the SVG chart, the machine it ran on. */
import { execSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { chartSvg, Series } from './chart';
import { MEASURE_S, QUICK, RUN, WARMUP_S, base } from './options';
import type { Report } from './records';
import type { Pct } from './stats';

const fmtP = (p: Pct | null, k: keyof Pct) => (p ? String(Math.round(p[k] as number)) : '-');
const STACK = ['temporal', 'minio', 'kafka', 'postgres'];
/** The path's own processes (api, worker, worker-2, app, relay...): everything but the stack and the load generator. */
const isApp = (k: string) => k !== 'bench' && !STACK.includes(k);

export function markdown(report: Report, meta: Record<string, unknown>): string {
  const { results, violations, notes, bulk: bulkResult } = report;
  const lines: string[] = [];
  lines.push(`Run \`${RUN}\` (${meta.mode}), ${meta.date}; measure ${MEASURE_S} s after ${WARMUP_S} s warm-up per level; latencies in ms.`);
  lines.push('');
  lines.push(
    '| path | level | cmd/s | errors | submit→COMPLETED p50/p90/p99/max | submit→Kafka p50/p90/p99/max | submit→read model p50/p90/p99/max | CPU s (app procs) | CPU s (temporal/minio/kafka/pg) | peak RSS MB (app procs) |',
  );
  lines.push('|---|---|---:|---:|---|---|---|---|---|---|');
  for (const r of results) {
    const q = (p: Pct | null) => `${fmtP(p, 'p50')}/${fmtP(p, 'p90')}/${fmtP(p, 'p99')}/${fmtP(p, 'max')}`;
    const app = Object.entries(r.cpuSeconds).filter(([k]) => !STACK.includes(k));
    const stack = STACK.map((k) => r.cpuSeconds[k] ?? '-').join('/');
    const rss = Object.entries(r.peakRssMb).filter(([k]) => isApp(k));
    lines.push(
      `| ${r.path} | ${r.hot ? `hot, ${r.concurrency}` : r.concurrency} | ${r.throughput} | ${r.errors} | ${q(r.submitToCompleted)} | ${q(r.submitToKafka)} | ${q(r.submitToReadModel)} | ${app.map(([k, v]) => `${k} ${v}`).join(', ')} | ${stack} | ${rss.map(([k, v]) => `${k} ${v}`).join(', ')} |`,
    );
  }
  lines.push(...backendsSideBySide(results));
  if (bulkResult) {
    lines.push('');
    const b = bulkResult as any;
    lines.push(
      `Bulk (workflow, BULK_CREATE_INSTANCES of ${b.instances}): ${b.status} in ${b.completed_s} s (accepted in ${b.accepted_ms} ms), all batches consumed from Kafka at ${b.kafka_s} s, read model complete at ${b.read_model_s} s (${b.batches} batch events; ${b.instances_per_s} instances/s). CPU s: ${Object.entries(
        b.cpuSeconds,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}; peak RSS MB: ${Object.entries(b.peakRssMb)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}.`,
    );
  }
  const variants = [...new Set(results.filter((r) => r.path.startsWith('workflow')).map((r) => r.path))];
  if (variants.length > 1) lines.push('', ...scaleOut(results.filter((r) => variants.includes(r.path))));
  const profiled = results.filter((r) => r.profile);
  if (profiled.length) {
    lines.push('');
    lines.push('Workflow path, where the time goes (p50 over sampled workflow histories; ms):');
    lines.push('');
    const keys = [...new Set(profiled.flatMap((r) => Object.keys(r.profile!)))];
    lines.push(`| metric | ${profiled.map((r) => r.scenario).join(' | ')} |`);
    lines.push(`|---|${profiled.map(() => '---:').join('|')}|`);
    for (const k of keys) lines.push(`| ${k.replace(' (p50)', '')} | ${profiled.map((r) => r.profile![k] ?? '-').join(' | ')} |`);
  }
  lines.push('');
  lines.push('Targets:');
  lines.push('');
  for (const t of targets(report)) lines.push(`- ${t}`);
  lines.push('');
  lines.push('Invariants:');
  lines.push('');
  for (const n of notes.filter((x) => x.includes('checked'))) lines.push(`- ${n}`);
  lines.push(violations.length ? `- **${violations.length} violation(s)**: ${violations.slice(0, 10).join('; ')}` : '- no violation');
  return lines.join('\n');
}

/** --temporal dev,server: the workflow path's figures per level, one backend beside the other in each cell. */
function backendsSideBySide(results: Report['results']): string[] {
  const paths = [...new Set(results.map((r) => r.path))].filter((p) => ['workflow', 'workflow-server'].includes(p));
  if (paths.length < 2) return [];
  const levels = [...new Set(results.filter((r) => paths.includes(r.path)).map((r) => (r.hot ? `hot, ${r.concurrency}` : String(r.concurrency))))];
  const cell = (level: string, f: (r: Report['results'][number]) => unknown) =>
    paths
      .map((p) => results.find((r) => r.path === p && (r.hot ? `hot, ${r.concurrency}` : String(r.concurrency)) === level))
      .map((r) => (r ? String(f(r) ?? '-') : '-'))
      .join(' / ');
  return [
    '',
    `Temporal backends side by side (each cell: ${paths.join(' / ')}; \`workflow\` runs on the stack's dev server on SQLite, \`workflow-server\` on the Temporal server on PostgreSQL):`,
    '',
    '| level | cmd/s | submit→COMPLETED p50 | p99 | submit→Kafka p50 | CPU s Temporal | CPU s PostgreSQL | CPU s worker | CPU s API |',
    '|---|---|---|---|---|---|---|---|---|',
    ...levels.map(
      (l) =>
        `| ${l} | ${cell(l, (r) => r.throughput)} | ${cell(l, (r) => fmtP(r.submitToCompleted, 'p50'))} | ${cell(l, (r) => fmtP(r.submitToCompleted, 'p99'))} | ${cell(l, (r) => fmtP(r.submitToKafka, 'p50'))} | ${cell(l, (r) => r.cpuSeconds.temporal)} | ${cell(l, (r) => r.cpuSeconds.postgres)} | ${cell(l, (r) => r.cpuSeconds.worker)} | ${cell(l, (r) => r.cpuSeconds.api)} |`,
    ),
  ];
}

/**
 * The scale-out table: per workflow variant and level, throughput, latency, CPU per command summed
 * over the path's processes and over the stack's, peak RSS, and the machine's load while it ran.
 */
export function scaleOut(results: Report['results']): string[] {
  const perCmd = (r: Report['results'][number], keys: string[]) => (r.commands ? Math.round((keys.reduce((a, k) => a + (r.cpuSeconds[k] ?? 0), 0) * 1000) / r.commands) : '-');
  const lines = [
    'Scale-out (workflow path; CPU ms per command completed in the window):',
    '',
    '| variant | level | cmd/s | COMPLETED p50/p99 | CPU ms/cmd: api + workers | Temporal | MinIO + Kafka + PG | all | peak RSS MB | load avg (1 min) |',
    '|---|---:|---:|---|---:|---:|---:|---:|---|---:|',
  ];
  for (const r of results) {
    const app = Object.keys(r.cpuSeconds).filter(isApp);
    const rss = Object.entries(r.peakRssMb).filter(([k]) => isApp(k));
    lines.push(
      `| ${r.path} | ${r.hot ? `hot, ${r.concurrency}` : r.concurrency} | ${r.throughput} | ${fmtP(r.submitToCompleted, 'p50')}/${fmtP(r.submitToCompleted, 'p99')} | ${perCmd(r, app)} | ${perCmd(r, ['temporal'])} | ${perCmd(r, ['minio', 'kafka', 'postgres'])} | ${perCmd(r, [...app, ...STACK])} | ${rss.map(([k, v]) => `${k} ${v}`).join(', ')} | ${r.load1 ?? '-'} |`,
    );
  }
  return lines;
}

export function targets(report: Report): string[] {
  const { results, bulk: bulkResult } = report;
  const out: string[] = [];
  const get = (p: string, c: number) => results.find((r) => r.path === p && r.concurrency === c && !r.hot);
  const w32 = get('workflow', 32);
  const d32 = get('direct', 32);
  if (w32 && d32) {
    const ratio = w32.throughput / d32.throughput;
    out.push(`workflow throughput at 32 >= 50% of direct: ${w32.throughput} vs ${d32.throughput} cmd/s = ${Math.round(ratio * 100)}% — ${ratio >= 0.5 ? 'MET' : 'MISSED'}`);
  }
  const w1 = get('workflow', 1);
  if (w1?.submitToKafka) out.push(`workflow p50 submit->Kafka at 1 <= 100 ms: ${w1.submitToKafka.p50} ms — ${w1.submitToKafka.p50 <= 100 ? 'MET' : 'MISSED'}`);
  if (bulkResult) {
    const b = bulkResult as any;
    const total = Math.max(b.completed_s ?? Infinity, b.kafka_s ?? Infinity, b.read_model_s ?? Infinity);
    out.push(
      `bulk ${b.instances} stored, delivered, projected <= 60 s: ${total} s — ${total <= 60 && b.instances >= 100000 ? 'MET' : b.instances < 100000 ? `(only ${b.instances} instances in this run)` : 'MISSED'}`,
    );
  }
  const w128 = get('workflow', 128);
  if (w128) {
    const wr = w128.peakRssMb.worker;
    const ar = w128.peakRssMb.api;
    out.push(`worker RSS <= 400 MB at 128: ${wr} MB — ${wr <= 400 ? 'MET' : 'MISSED'}; API RSS <= 200 MB at 128: ${ar} MB — ${ar <= 200 ? 'MET' : 'MISSED'}`);
  }
  return out;
}

export function chart(results: Report['results']): string {
  const paths = [...new Set(results.map((r) => r.path))];
  const tp: Series[] = paths.map((p) => ({ name: p, points: results.filter((r) => r.path === p && !r.hot).map((r) => ({ x: r.concurrency, y: r.throughput })) }));
  const p99: Series[] = paths.map((p) => ({ name: p, points: results.filter((r) => r.path === p && !r.hot && r.submitToCompleted).map((r) => ({ x: r.concurrency, y: r.submitToCompleted!.p99 })) }));
  return chartSvg(`spice-oms bench ${RUN} ${QUICK ? '(quick)' : ''} ${new Date().toISOString().slice(0, 16)}`, tp, p99);
}

export function machine(): Record<string, unknown> {
  const v = (cmd: string) => {
    try {
      return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .trim()
        .split('\n')[0];
    } catch {
      return 'unknown';
    }
  };
  return {
    nproc: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    memory_gb: Math.round(os.totalmem() / 1e9),
    node: process.version,
    kernel: os.release(),
    temporal_cli: v(`ls ${path.join(base.SPICE_CACHE_DIR, 'bin')} | grep temporal`),
    minio: v(`ls ${path.join(base.SPICE_CACHE_DIR, 'bin')} | grep minio`),
    postgres: v('postgres --version || /usr/lib/postgresql/15/bin/postgres --version'),
    loadavg_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

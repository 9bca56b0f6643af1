/**
 * The worker's cost per workflow activation, without a server: `npx tsx bench/activation.ts [runs=300]`.
 * Bundles the workflow code as the worker does (WORKFLOW_BUNDLE_OPTIONS) and once without the
 * modules it preloads, then replays one recorded single-command history (test/fixtures/histories,
 * newest update) `runs` times on a replay worker (reusable V8 context, as the real worker) and
 * prints the process CPU ms and wall ms per workflow for each bundle, and the bundle sizes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_OPTIONS } from '../src/app/workflows-path';
import { workflowSinks } from '../src/app/command-worker';

const RUNS = Number(process.argv[2] ?? 300);
const dir = path.join(__dirname, '..', 'test', 'fixtures', 'histories');
const newest = fs
  .readdirSync(dir)
  .filter((f) => /^v\d+-update-instance\.json$/.test(f))
  .sort((a, b) => Number(/^v(\d+)/.exec(b)![1]) - Number(/^v(\d+)/.exec(a)![1]))[0]!;
const history = JSON.parse(fs.readFileSync(path.join(dir, newest), 'utf8'));
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never;

async function perWorkflow(code: string): Promise<{ cpuMs: number; wallMs: number }> {
  const histories = (n: number) => Array.from({ length: n }, (_, i) => ({ workflowId: `activation-${i}`, history }));
  const replay = async (n: number) => {
    for await (const r of Worker.runReplayHistories({ workflowBundle: { code }, sinks: workflowSinks() }, histories(n))) {
      if (r.error) throw r.error;
    }
  };
  await replay(20); // warm-up: JIT, the context's shared modules
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await replay(RUNS);
  const cpu = process.cpuUsage(cpu0);
  return { cpuMs: (cpu.user + cpu.system) / 1000 / RUNS, wallMs: (performance.now() - t0) / RUNS };
}

async function main(): Promise<void> {
  const variants: [string, Parameters<typeof bundleWorkflowCode>[0]][] = [
    ['without the OpenTelemetry workflow interceptors', { ...WORKFLOW_BUNDLE_OPTIONS, workflowInterceptorModules: [] }],
    ['as shipped (WORKFLOW_BUNDLE_OPTIONS)', WORKFLOW_BUNDLE_OPTIONS],
  ];
  const rows: string[] = [];
  for (const [name, options] of variants) {
    const { code } = await bundleWorkflowCode({ ...options, logger: quiet });
    const r = await perWorkflow(code);
    rows.push(`| ${name} | ${(code.length / 1e6).toFixed(2)} | ${r.cpuMs.toFixed(2)} | ${r.wallMs.toFixed(2)} |`);
  }
  process.stdout.write(
    [
      `Replay of ${newest}, ${RUNS} workflows per bundle, load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)}:`,
      '',
      '| bundle | MB | CPU ms/workflow | wall ms/workflow |',
      '|---|---:|---:|---:|',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch((err) => {
  process.stderr.write(`activation: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

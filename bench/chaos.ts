/**
 * npm run chaos [-- --short] [--seconds N] [--json FILE]
 * Runs the chaos plan (bench/chaos/run-chaos.ts) against services of its own next to the shared
 * stack, prints the table, writes the JSON (bench/results/chaos-<mode>.json by default) and puts
 * the table in CHAOS.md between the markers of its mode. Exits 1 when an invariant fails.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PLANS, chaosTable, runChaos } from './chaos/run-chaos';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const plan = { ...PLANS[args.includes('--short') ? 'short' : 'full'] };
  if (opt('--seconds')) plan.loadSeconds = Number(opt('--seconds'));
  const report = await runChaos(plan);
  const table = chaosTable(report);
  process.stdout.write(`\n${table}\n`);
  const json = opt('--json') ?? path.join(__dirname, 'results', `chaos-${plan.mode}.json`);
  fs.mkdirSync(path.dirname(json), { recursive: true });
  fs.writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeChaosMd(plan.mode, `Run ${report.started_at} (${report.seconds_total} s in all): \`npm run chaos${plan.mode === 'short' ? ' -- --short' : ''}\`\n\n${table}`);
  const broken =
    report.lost || report.gaps || report.order_violations || report.left_running || report.read_models_equal === false || Object.keys(report.commands.failed).some((k) => !k.startsWith('business:'));
  process.exitCode = broken ? 1 : 0;
}

/** Replaces the figures of one mode in CHAOS.md, between `<!-- chaos:<mode> -->` and `<!-- /chaos:<mode> -->`. */
function writeChaosMd(mode: string, body: string): void {
  const file = path.join(__dirname, '..', 'CHAOS.md');
  const text = fs.readFileSync(file, 'utf8');
  const open = `<!-- chaos:${mode} -->`;
  const close = `<!-- /chaos:${mode} -->`;
  const a = text.indexOf(open);
  const b = text.indexOf(close);
  if (a < 0 || b < a) throw new Error(`CHAOS.md has no ${open} ... ${close} section`);
  fs.writeFileSync(file, `${text.slice(0, a + open.length)}\n${body}\n${text.slice(b)}`);
}

main().catch((err) => {
  process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

/**
 * `npm run check:alerts`: promtool checks deploy/observability/prometheus/alert-rules.yml and runs
 * its unit tests (alert-rules.test.yml: each alert fires on its case and stays quiet before).
 * test/unit/alert-rules.unit.test.ts runs the same whenever promtool is installed.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from '../src/app/config';
import { findPromtool } from './stack/tools';

const RULES_DIR = path.join(__dirname, '..', 'deploy', 'observability', 'prometheus');
export const PROMTOOL_RUNS = [
  ['check', 'rules', 'alert-rules.yml'],
  ['test', 'rules', 'alert-rules.test.yml'],
] as const;

export interface PromtoolRun {
  args: readonly string[];
  ok: boolean;
  output: string;
}

/** Runs each promtool check over the rules; a failing one does not stop the next. */
export async function checkAlertRules(promtool: string): Promise<PromtoolRun[]> {
  const runs: PromtoolRun[] = [];
  for (const args of PROMTOOL_RUNS) {
    runs.push(
      await new Promise<PromtoolRun>((resolve) =>
        execFile(promtool, [...args], { cwd: RULES_DIR, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => resolve({ args, ok: err === null, output: `${stdout}${stderr}` })),
      ),
    );
  }
  return runs;
}

if (require.main === module) {
  const promtool = findPromtool(loadConfig());
  if (promtool === undefined) {
    process.stderr.write('promtool not found: npx tsx scripts/stack/tools.ts --promtool builds it\n');
    process.exit(2);
  }
  checkAlertRules(promtool).then((runs) => {
    for (const r of runs) process.stdout.write(`$ promtool ${r.args.join(' ')}\n${r.output}`);
    process.exit(runs.every((r) => r.ok) ? 0 : 1);
  });
}

/**
 * `npm run check:alerts`: promtool checks deploy/observability/prometheus/alert-rules.yml and runs
 * its unit tests (alert-rules.test.yml: each alert fires on its case and stays quiet before).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from '../src/app/config';
import { toolPaths } from './stack/tools';

const { promtool } = toolPaths(loadConfig());
const cwd = path.join(__dirname, '..', 'deploy', 'observability', 'prometheus');
for (const args of [
  ['check', 'rules', 'alert-rules.yml'],
  ['test', 'rules', 'alert-rules.test.yml'],
]) {
  process.stdout.write(execFileSync(promtool, args, { cwd, encoding: 'utf8' }));
}

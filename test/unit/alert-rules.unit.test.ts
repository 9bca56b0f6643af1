/**
 * The Prometheus alert rules parse and pass their own unit tests (alert-rules.test.yml: each alert
 * fires on its case, with its description, and stays quiet before), through promtool.
 * promtool is a Go build of a few minutes (`npx tsx scripts/stack/tools.ts --promtool`, also run by
 * `npm run check:alerts`), so it is not installed by npm test: without it these tests are skipped
 * and say so; with it (in the cache or on the PATH) they run.
 */
import { checkAlertRules } from '../../scripts/check-alerts';
import { findPromtool } from '../../scripts/stack/tools';
import { testConfig } from '../support/env';

const promtool = findPromtool(testConfig);
const withPromtool = promtool === undefined ? test.skip : test;
if (promtool === undefined) {
  process.stderr.write('alert-rules: SKIPPED, promtool is not installed (build it with: npx tsx scripts/stack/tools.ts --promtool)\n');
}

withPromtool('promtool check rules and promtool test rules pass', async () => {
  const runs = await checkAlertRules(promtool!);
  for (const r of runs) expect({ args: r.args.join(' '), ok: r.ok, output: r.output }).toEqual({ args: r.args.join(' '), ok: true, output: expect.stringContaining('SUCCESS') });
});

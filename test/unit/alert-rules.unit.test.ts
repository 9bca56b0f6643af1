/**
 * The Prometheus alert rules parse and pass their own unit tests (alert-rules.test.yml: each alert
 * fires on its case, with its description, and stays quiet before), through promtool.
 * promtool is a Go build of a few minutes (`npx tsx scripts/stack/tools.ts --promtool`, also run by
 * `npm run check:alerts`), so it is not installed by npm test: without it the promtool test is skipped
 * and says so; with it (in the cache or on the PATH) it runs. The PromQL grammar check below runs always.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { checkAlertRules } from '../../scripts/check-alerts';
import { findPromtool } from '../../scripts/stack/tools';
import { testConfig } from '../support/env';

const RULES_FILE = path.join(__dirname, '..', '..', 'deploy', 'observability', 'prometheus', 'alert-rules.yml');
const promtool = findPromtool(testConfig);
const withPromtool = promtool === undefined ? test.skip : test;
if (promtool === undefined) {
  process.stderr.write('alert-rules: SKIPPED, promtool is not installed (build it with: npx tsx scripts/stack/tools.ts --promtool)\n');
}

withPromtool('promtool check rules and promtool test rules pass', async () => {
  const runs = await checkAlertRules(promtool!);
  for (const r of runs) expect({ args: r.args.join(' '), ok: r.ok, output: r.output }).toEqual({ args: r.args.join(' '), ok: true, output: expect.stringContaining('SUCCESS') });
});

/**
 * Without promtool the rules still parse: every expression through Prometheus' own PromQL grammar
 * (@prometheus-io/lezer-promql, the one its web UI uses), every rule with the fields Prometheus wants.
 */
describe("the rules parse with Prometheus' PromQL grammar (runs with or without promtool)", () => {
  const rules = (YAML.parse(fs.readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ name: string; rules: Array<Record<string, unknown>> }> }).groups.flatMap((g) => g.rules);

  test('the checker finds a broken expression, so a pass means something', () => {
    expect(promqlErrors('sum(rate(spice_events_relayed_total[5m])) > 0')).toEqual([]);
    expect(promqlErrors('sum(rate(spice_events_relayed_total[5m]) > 0')).not.toEqual([]);
    expect(promqlErrors('max(spice_ledger_oldest_pending_age_seconds) >')).not.toEqual([]);
  });

  test.each(rules.map((r) => [r.alert as string, r]))('%s: a valid expression, a duration, a severity, a summary and a description', (_name, rule) => {
    expect(promqlErrors(String(rule.expr))).toEqual([]);
    if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smhdwy]$/);
    expect(rule.labels).toMatchObject({ severity: expect.stringMatching(/^(page|warning)$/) });
    expect(rule.annotations).toMatchObject({ summary: expect.any(String), description: expect.any(String) });
  });
});

/** The positions and text of the grammar's error nodes in an expression; empty when it parses. */
function promqlErrors(expr: string): string[] {
  const errors: string[] = [];
  promqlParser.parse(expr).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(`at ${node.from}: '${expr.slice(node.from, node.to)}'`);
    },
  });
  return errors;
}

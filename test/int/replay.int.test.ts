/**
 * Invariant 8: workflow histories recorded from earlier runs (test/fixtures/histories, written by
 * scripts/record-histories.ts or `temporal workflow show --output json`) replay against the
 * current workflow code without a determinism violation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { workflowBundleOptions } from '../../src/app/workflows-path';
import { workflowBundle } from '../support/pipeline';
import { workflowSinks } from '../../src/app/command-worker';

const dir = path.join(__dirname, '..', 'fixtures', 'histories');
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

test('there are recorded histories to replay', () => {
  expect(files.filter((f) => f.startsWith('v1-')).length).toBeGreaterThanOrEqual(5);
  expect(files.filter((f) => f.startsWith('v2-')).length).toBeGreaterThanOrEqual(5);
});

test.each(files)('%s replays against the current workflow code', async (file) => {
  const history = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle(), sinks: workflowSinks() }, history, file)).resolves.toBeUndefined();
});

let untraced: Promise<{ code: string }> | undefined;
// A worker that exports no traces bundles without the OpenTelemetry workflow interceptors: the
// histories recorded with them (all of these) must replay there too.
test.each(files)('%s replays against the bundle without the tracing interceptors', async (file) => {
  const history = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  untraced ??= bundleWorkflowCode({ ...workflowBundleOptions(false), logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never });
  const bundle = await untraced;
  expect(bundle.code).not.toContain('interceptors-opentelemetry/lib/workflow-interceptors');
  await expect(Worker.runReplayHistory({ workflowBundle: bundle, sinks: workflowSinks() }, history, file)).resolves.toBeUndefined();
});

test('a change to the workflow code that reorders its commands is caught', async () => {
  // A workflow named like ours that schedules a different first activity: replay must refuse it.
  const history = JSON.parse(fs.readFileSync(path.join(dir, 'v2-create-instance.json'), 'utf8'));
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const changed = await bundleWorkflowCode({ workflowsPath: require.resolve('./replay/changed-workflow'), logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never });
  await expect(Worker.runReplayHistory({ workflowBundle: changed }, history, 'changed')).rejects.toThrow(/[Nn]ondetermin|DeterminismViolation/);
});

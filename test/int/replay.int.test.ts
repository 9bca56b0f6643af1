/**
 * Invariant 8: workflow histories recorded from earlier runs (test/fixtures/histories, written by
 * scripts/record-histories.ts or `temporal workflow show --output json`) replay against the
 * current workflow code without a determinism violation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
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

test('a change to the workflow code that reorders its commands is caught', async () => {
  // A workflow named like ours that schedules a different first activity: replay must refuse it.
  const history = JSON.parse(fs.readFileSync(path.join(dir, 'v2-create-instance.json'), 'utf8'));
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const changed = await bundleWorkflowCode({ workflowsPath: require.resolve('./replay/changed-workflow'), logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never });
  await expect(Worker.runReplayHistory({ workflowBundle: changed }, history, 'changed')).rejects.toThrow(/[Nn]ondetermin|DeterminismViolation/);
});

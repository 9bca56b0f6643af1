/**
 * Bundles the workflow code into one file (argv[2]); `--untraced` leaves out the OpenTelemetry
 * workflow interceptors (workflowBundleOptions). Workers run this in a short-lived child process:
 * webpack's memory then never stays in the long-running worker.
 */
import fs from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowBundleOptions } from '../src/app/workflows-path';

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error('usage: bundle-workflows <output file>');
  const { code } = await bundleWorkflowCode({
    ...workflowBundleOptions(!process.argv.includes('--untraced')),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never,
  });
  fs.writeFileSync(out, code);
}

main().catch((err) => {
  process.stderr.write(`bundle-workflows: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

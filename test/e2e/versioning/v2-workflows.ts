/**
 * "Version 2" of the workflow code for the worker-versioning test: processCommand now starts with a
 * timer, a change that replaying a version-1 history would reject as non-deterministic. Pinned
 * commands of version 1 must therefore never reach these workers.
 */
import { sleep } from '@temporalio/workflow';
import { processCommand as processCommandV1 } from '../../../src/workflows/process-command';

export { rebuildReadModels, reconcileDeliveries } from '../../../src/workflows';

export async function processCommand(input: Parameters<typeof processCommandV1>[0]): ReturnType<typeof processCommandV1> {
  await sleep(1);
  return processCommandV1(input);
}

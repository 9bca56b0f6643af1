/** processCommand as a careless change might leave it: it delivers before appending. */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../../src/activities';

const { deliver, decideAndAppend } = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });

export async function processCommand(input: Parameters<Activities['decideAndAppend']>[0]): Promise<unknown> {
  await deliver([]);
  return decideAndAppend(input);
}

/** The smallest workflow that touches every service of the stack once, through activities. */
import { proxyActivities } from '@temporalio/workflow';
import type { SmokeActivities } from './smoke.activities';

const { putObject, insertRow, publish } = proxyActivities<SmokeActivities>({
  startToCloseTimeout: '10 seconds',
  // The smoke test must fail when a service is down, not wait for it forever.
  retry: { maximumAttempts: 2, initialInterval: '200 milliseconds' },
});

export async function smokeWorkflow(id: string): Promise<{ etag: string; row: number; offset: string }> {
  const etag = await putObject(id);
  const row = await insertRow(id);
  const offset = await publish(id);
  return { etag, row, offset };
}

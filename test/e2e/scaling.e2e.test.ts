/**
 * Scaling by deployment: several workers serve one task queue, and commands keep completing when
 * one of them goes away (its in-flight work is picked up by the other).
 */
import { NativeConnection } from '@temporalio/worker';
import { createCommandWorker } from '../../src/app/command-worker';
import { startPipeline, Pipeline, workflowBundle } from '../support/pipeline';
import { testConfig, eventually } from '../support/env';
import { sendJson } from '../support/http';

let p: Pipeline;
const db = 'scaled';

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, path, body, headers);

beforeAll(async () => {
  p = await startPipeline('e2e-scale');
});
afterAll(async () => {
  await p?.close();
});

test('a second worker on the same task queue serves commands, also after the first one stops', async () => {
  const connection = await NativeConnection.connect({ address: testConfig.temporalAddress });
  const infra = p.api.infra;
  const second = await createCommandWorker({
    connection,
    namespace: testConfig.TEMPORAL_NAMESPACE,
    taskQueue: p.taskQueue,
    deps: infra.activityDeps(),
    rebuild: infra.rebuildDeps(),
    reconcile: infra.reconcileDeps(),
    workflowBundle: await workflowBundle(),
    tuning: { identity: 'second-worker' },
  });
  const running = second.run();
  try {
    expect((await send('POST', '/databases', { name: db }, { prefer: 'wait=30' })).status).toBe(201);
    expect((await send('POST', `/databases/${db}/classes`, { id: 'S', label: 'S', properties: [], relationships: [] }, { prefer: 'wait=30' })).status).toBe(201);

    // The first worker leaves; everything submitted afterwards is the second one's.
    p.worker.shutdown();
    await eventually(
      async () => p.worker.getState(),
      (s) => s === 'STOPPED',
      30_000,
    );
    const accepted = await Promise.all(Array.from({ length: 10 }, (_, i) => send('POST', `/databases/${db}/classes/S/instances`, { id: `s${i}` })));
    const done = await Promise.all(
      accepted.map((a) =>
        eventually(
          async () => (await send('GET', `/commands/${a.body.command_id}`)).body,
          (s) => s.status === 'COMPLETED',
          60_000,
          200,
        ),
      ),
    );
    expect(done.map((d) => d.result.version)).toEqual(Array(10).fill(1));
    // The workflow tasks of those commands were completed by the second worker.
    const history = await p.client.workflow.getHandle(`command-${accepted[0].body.command_id}`).fetchHistory();
    const identities = (history.events ?? []).map((e) => e.workflowTaskCompletedEventAttributes?.identity).filter(Boolean);
    expect(identities).toContain('second-worker');
    expect(await p.ledgerRows(`aggregate_id LIKE $1 AND status = 'delivered'`, [`${db}:s%`])).toHaveLength(10);
  } finally {
    second.shutdown();
    await running.catch(() => undefined);
    await connection.close();
  }
});

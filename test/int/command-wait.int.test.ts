/**
 * A command wait ends when its time is up or its signal aborts, also on the embedded worker's
 * NativeConnection, which ignores abort signals: there the history long poll went on until the
 * server's own long-poll expiry (about 20 s), so a SIGTERM's "answer the waits now" came too late
 * for SHUTDOWN_GRACE_MS (issue 17 item 5) and `wait=1` could take 20 s.
 */
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { TemporalCommandGateway } from '../../src/app/command-gateway';
import { workflowIdOf } from '../../src/contracts/workflows';
import { testConfig, uniqueName } from '../support/env';
import { randomUUID } from 'node:crypto';

let connection: NativeConnection;
let client: Client;
let gateway: TemporalCommandGateway;
const commandId = randomUUID();

beforeAll(async () => {
  connection = await NativeConnection.connect({ address: testConfig.temporalAddress });
  client = new Client({ connection, namespace: testConfig.TEMPORAL_NAMESPACE });
  const unused = () => {
    throw new Error('not used by wait()');
  };
  gateway = new TemporalCommandGateway({
    client,
    taskQueue: 'unused',
    storageMode: 's3_only',
    blobs: { bodyOf: unused, putJson: unused, openUpload: unused },
    bodies: { seal: unused, itemSealer: unused, forget: unused },
    ledger: { byEventIds: async () => [] },
  });
  // A run no worker will ever take: every wait on it ends by its time or its signal.
  await client.workflow.start('processCommand', { taskQueue: uniqueName('no-worker'), workflowId: workflowIdOf(commandId), args: [] });
}, 60_000);

afterAll(async () => {
  await client.workflow
    .getHandle(workflowIdOf(commandId))
    .terminate('test done')
    .catch(() => undefined);
  await connection.close();
});

test('an aborted wait returns at once on a NativeConnection client', async () => {
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 500);
  const started = Date.now();
  const view = await gateway.wait(commandId, 60_000, stop.signal);
  expect(view).toBeNull();
  expect(Date.now() - started).toBeLessThan(3000);
}, 60_000);

test('a wait ends at its timeout on a NativeConnection client, with the status as it stands', async () => {
  const started = Date.now();
  const view = await gateway.wait(commandId, 1000);
  expect(view?.status).toBe('PENDING');
  expect(Date.now() - started).toBeLessThan(4000);
}, 60_000);

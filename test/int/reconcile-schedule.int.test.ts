/**
 * The reconciliation schedule of a task queue can be removed (what `npm run bench` does for its own
 * queue at the end), and removing one that is gone already is not an error.
 */
import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';
import { deleteReconcileSchedule, ensureReconcileSchedule, reconcileScheduleId } from '../../src/app/reconcile-schedule';
import { temporalConnectionOptions } from '../../src/app/temporal-connection';
import { testConfig, uniqueName } from '../support/env';

let connection: Connection;
let client: Client;

beforeAll(async () => {
  connection = await Connection.connect(temporalConnectionOptions(testConfig));
  client = new Client({ connection, namespace: testConfig.TEMPORAL_NAMESPACE });
});
afterAll(() => connection.close());

test('a task queue’s reconciliation schedule is deleted, and deleting it again is a no-op', async () => {
  const taskQueue = uniqueName('sched');
  await ensureReconcileSchedule(client, { taskQueue, everySeconds: 3600, graceSeconds: 60 });
  const described = await client.schedule.getHandle(reconcileScheduleId(taskQueue)).describe();
  expect(described.action).toMatchObject({ taskQueue });

  await deleteReconcileSchedule(client, taskQueue);
  await expect(client.schedule.getHandle(reconcileScheduleId(taskQueue)).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  await expect(deleteReconcileSchedule(client, taskQueue)).resolves.toBeUndefined();
});

/**
 * Invariant 4: an event that reached S3 but whose workflow died before recording or delivering it
 * is found by the reconciliation and recorded, delivered and projected; nothing stays behind.
 */
import { randomUUID } from 'node:crypto';
import { decide, initialState } from '../../src/domain';
import { envelopeOf } from '../../src/contracts/event-envelope';
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually } from '../support/env';
import { seedDatabase } from '../support/http';

let p: Pipeline;
const db = 'reconciled';

beforeAll(async () => {
  p = await startPipeline('e2e-reconcile');
  await seedDatabase(p.url, db, { id: 'K', label: 'K', properties: [{ name: 'v', type: 'integer' }], relationships: [] });
});
afterAll(async () => {
  await p?.close();
});

/** What a workflow that died after its append leaves behind: the event in S3 and nothing else. */
async function orphanInS3(id: string, record: boolean) {
  const infra = p.api.infra;
  const command = { command_type: 'CREATE_INSTANCE', db_name: db, payload: { id, class_id: 'K', properties: { v: 7 }, relationships: {} } };
  const database = { aggregate_type: 'database' as const, version: 1, status: 'active' as const, name: db };
  const classes = await infra.readModels.classCatalog(db);
  const decision = decide(command, initialState('instance'), { database, classes, targets: {} });
  if (!decision.ok) throw new Error(decision.error.message);
  const envelope = envelopeOf<unknown>(decision.events[0], { commandId: randomUUID(), position: 0, version: 1, occurredAt: new Date().toISOString(), actor: 'test', storageMode: 's3_only' });
  const appended = await infra.s3Store.append({ aggregate_type: 'instance', aggregate_id: `${db}:${id}` }, 'no_stream', [envelope]);
  if (record) await infra.ledger.record([{ envelope, s3: appended.events[0].s3 }]);
  return envelope.event_id;
}

test('events in S3 without a ledger row, and ledger rows never delivered, are taken over', async () => {
  const unrecorded = await orphanInS3('orphan-1', false);
  const undelivered = await orphanInS3('orphan-2', true);
  expect(await p.ledgerRows('event_id = $1', [unrecorded])).toHaveLength(0);
  expect((await p.ledgerRows('event_id = $1', [undelivered]))[0].status).toBe('pending');

  const result = await p.client.workflow.execute('reconcileDeliveries', { taskQueue: p.taskQueue, workflowId: `reconcile-${randomUUID()}`, args: [{ grace_seconds: 0 }] });
  expect(result).toMatchObject({ recorded: 1, redelivered: 1 });

  for (const [eventId, id] of [
    [unrecorded, 'orphan-1'],
    [undelivered, 'orphan-2'],
  ]) {
    const rows = await p.ledgerRows('event_id = $1', [eventId]);
    expect(rows.map((r) => r.status)).toEqual(['delivered']);
    await eventually(
      async () => p.messages.filter((m) => m.headers['event-id'] === eventId).length,
      (n) => n >= 1,
    );
    const read = await fetch(`${p.url}/databases/${db}/instances/${id}`, { headers: p.auth });
    expect(read.status).toBe(200);
  }

  // A second run finds nothing new: the checkpoint moved past what it scanned.
  const again = await p.client.workflow.execute('reconcileDeliveries', { taskQueue: p.taskQueue, workflowId: `reconcile-${randomUUID()}`, args: [{ grace_seconds: 0 }] });
  expect(again).toMatchObject({ recorded: 0, redelivered: 0 });
});

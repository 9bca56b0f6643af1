/**
 * Nothing already stored may block the rest: events put straight into S3 (as if stored before
 * today's input checks existed) that the ledger cannot hold, the projector cannot read, or whose
 * stream predecessor never got a ledger row, are set aside by the reconciliation and counted; every
 * other event is recorded, delivered and projected, and the checkpoint moves.
 */
import { randomUUID } from 'node:crypto';
import { register } from 'prom-client';
import { envelopeOf, EventEnvelope } from '../../src/contracts/event-envelope';
import type { ReconcileResult } from '../../src/activities/reconcile';
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually } from '../support/env';
import { seedDatabase } from '../support/http';

let p: Pipeline;
const db = 'isolated';

beforeAll(async () => {
  p = await startPipeline('e2e-isolation');
  await seedDatabase(p.url, db, { id: 'K', label: 'K', properties: [{ name: 'v', type: 'string' }], relationships: [] });
});
afterAll(async () => {
  await p?.close();
});

/** One instance event appended to S3 alone: no workflow, no ledger row. */
async function storeDirect(id: string, version: number, eventType: string, payload: unknown): Promise<EventEnvelope> {
  const envelope = envelopeOf<unknown>(
    { event_type: eventType, aggregate_type: 'instance', aggregate_id: `${db}:${id}`, payload },
    { commandId: randomUUID(), position: 0, version, occurredAt: new Date().toISOString(), actor: 'test', storageMode: 's3_only' },
  );
  await p.api.infra.s3Store.append({ aggregate_type: 'instance', aggregate_id: `${db}:${id}` }, version === 1 ? 'no_stream' : version - 1, [envelope]);
  return envelope;
}

const instance = (id: string, v: string) => ({ db_name: db, instance: { id, class_id: 'K', properties: { v }, relationships: {} } });

async function setAside(stage: string, code: string): Promise<number> {
  const metric = await register.getSingleMetric('spice_events_set_aside_total')?.get();
  return metric?.values.find((v) => v.labels.stage === stage && v.labels.code === code)?.value ?? 0;
}

const reconcile = (): Promise<ReconcileResult> => p.client.workflow.execute('reconcileDeliveries', { taskQueue: p.taskQueue, workflowId: `reconcile-${randomUUID()}`, args: [{ grace_seconds: 0 }] });

test('one unrecordable event, one unprojectable one and a blocked successor do not stop the good ones; the checkpoint moves', async () => {
  const before = await setAside('record', 'EVENT_NOT_RECORDABLE');
  // "squatted": the ledger already holds another (delivered) event at v1 of its stream, so it refuses
  // the S3 one (LEDGER_STREAM_CONFLICT); Kafka never gets it, so the read models must not show it.
  const infra = p.api.infra;
  await infra.pool.query(
    `INSERT INTO ${infra.ledger.table} (event_id, command_id, aggregate_type, aggregate_id, aggregate_version, event_type, topic, key, payload, storage_mode, status, delivered_at)
     VALUES ($1, 'squatter', 'instance', $2, 1, 'INSTANCE_CREATED', $3, $2, '{}', 's3_only', 'delivered', now())`,
    [`squatter-${randomUUID()}`, `${db}:squatted`, infra.topic],
  );
  const squatted = await storeDirect('squatted', 1, 'INSTANCE_CREATED', instance('squatted', 'refused'));
  // "poisoned": v1 holds U+0000, which no PostgreSQL text or jsonb accepts; its v2 is fine but waits for v1.
  const poison = await storeDirect('poisoned', 1, 'INSTANCE_CREATED', instance('poisoned', 'a\u0000b'));
  const successor = await storeDirect('poisoned', 2, 'INSTANCE_UPDATED', instance('poisoned', 'fine'));
  // "broken": recordable and deliverable, but not an instance event the read models can apply.
  const broken = await storeDirect('broken', 1, 'INSTANCE_CREATED', { db_name: db });
  const good = [await storeDirect('good-1', 1, 'INSTANCE_CREATED', instance('good-1', 'one')), await storeDirect('good-2', 1, 'INSTANCE_CREATED', instance('good-2', 'two'))];

  const result = await reconcile();
  // Each event set aside counts once, at the first stage that left it behind: the refused ones are
  // not offered to the projector, and the poisoned stream's v2 is held back at the relay.
  // The squatter's own row (delivered, never projected, no event in it) is found by the scan of rows the
  // read models have not reached, and set aside by the projector too.
  expect(result).toMatchObject({ recorded: 4, set_aside: 5 });
  expect(result.set_aside_by).toEqual({
    'record:EVENT_NOT_RECORDABLE': 1,
    'record:LEDGER_STREAM_CONFLICT': 1,
    'project:INVALID_EVENT': 2,
    'relay:PREDECESSOR_NOT_DELIVERED': 1,
  });
  expect(await setAside('record', 'EVENT_NOT_RECORDABLE')).toBe(before + 1);

  // Ledger: every event but the poisoned one; delivered unless its stream predecessor is missing.
  const rows = await p.ledgerRows(`aggregate_id LIKE $1`, [`${db}:%`]);
  const status = Object.fromEntries(rows.map((r) => [r.event_id, r.status]));
  expect(status[poison.event_id]).toBeUndefined();
  expect(status[squatted.event_id]).toBeUndefined();
  expect(status[successor.event_id]).toBe('pending');
  expect(status[broken.event_id]).toBe('delivered');
  for (const e of good) expect(status[e.event_id]).toBe('delivered');

  // Kafka and the read models have the good ones.
  for (const e of [...good, broken])
    await eventually(
      async () => p.messages.filter((m) => m.headers['event-id'] === e.event_id).length,
      (n) => n === 1,
    );
  expect(p.messages.filter((m) => [poison.event_id, successor.event_id, squatted.event_id].includes(m.headers['event-id']))).toHaveLength(0);
  for (const [id, v] of [
    ['good-1', 'one'],
    ['good-2', 'two'],
  ]) {
    const read = await fetch(`${p.url}/databases/${db}/instances/${id}`, { headers: p.auth });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { properties: unknown }).properties).toEqual({ v });
  }
  // Neither refused event (nor the successor held back behind one) is in the read models.
  expect((await fetch(`${p.url}/databases/${db}/instances/poisoned`, { headers: p.auth })).status).toBe(404);
  expect((await fetch(`${p.url}/databases/${db}/instances/squatted`, { headers: p.auth })).status).toBe(404);
  const { rows: projected } = await infra.pool.query(`SELECT instance_id FROM ${infra.readModelSchema}.instances WHERE db_name = $1 ORDER BY instance_id`, [db]);
  expect(projected.map((r) => r.instance_id)).toEqual(['good-1', 'good-2']);

  // The checkpoint moved past all of them: a new good event is all the next run records.
  // (The search sweep keeps a checkpoint of its own in the same table.)
  const { rows: saved } = await infra.pool.query(`SELECT checkpoint FROM ${infra.schema}.reconciler_checkpoints WHERE name = 'event-store-scan'`);
  expect(saved.map((r) => r.checkpoint)).toEqual([result.checkpoint]);
  const later = await storeDirect('good-3', 1, 'INSTANCE_CREATED', instance('good-3', 'three'));
  const again = await reconcile();
  expect(again).toMatchObject({ recorded: 1 });
  expect(again.set_aside_by['record:EVENT_NOT_RECORDABLE']).toBeUndefined();
  expect((await p.ledgerRows('event_id = $1', [later.event_id])).map((r) => r.status)).toEqual(['delivered']);
  expect((await fetch(`${p.url}/databases/${db}/instances/good-3`, { headers: p.auth })).status).toBe(200);
});

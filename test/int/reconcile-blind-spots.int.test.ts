/**
 * Issue 17 item 1: the reconciliation's blind spots, each on the real services (the infrastructure
 * the worker runs with, its reconcile activity called directly). The checkpoint per storage mode
 * is CurrentModeEventStore's (one position per store family in the saved checkpoint):
 *   - an event committed behind the saved checkpoint (a bulk batch carries its planning time as
 *     occurred_at, a worker's clock may be behind) is found through the overlap window;
 *   - an event delivered but never projected (its workflow terminated inside the projection) is
 *     projected;
 *   - a stream whose predecessor can never be delivered does not stop the run: what the run
 *     recorded is delivered and projected, and the stream is counted as blocked;
 *   - a pending successor of an event the ledger refused is not projected with the refused event
 *     filled in from S3.
 */
import { randomUUID } from 'node:crypto';
import { createReconcileActivities, type ReconcileResult } from '../../src/activities/reconcile';
import { connectInfrastructure, type Infrastructure } from '../../src/app/composition';
import type { Config } from '../../src/app/config';
import { envelopeOf, type EventEnvelope } from '../../src/contracts/event-envelope';
import { testConfig, uniqueName } from '../support/env';

const id = uniqueName('rc-blind');
const names = { schema: id.replace(/-/g, '_'), readModelSchema: `${id.replace(/-/g, '_')}_rm`, topic: id, s3Prefix: `${id}/` };
const db = 'blind';
const s3Config: Config = { ...testConfig, SEARCH_ENGINE: 'postgres', storageMode: 's3_only' };
let infra: Infrastructure;

const reconcile = (on: Infrastructure = infra, grace = 0): Promise<ReconcileResult> => createReconcileActivities(on.reconcileDeps()).reconcile({ grace_seconds: grace, max_events: 10_000 });

function instanceEvent(name: string, version: number, v: string, occurredAt = new Date().toISOString()): EventEnvelope {
  return envelopeOf<unknown>(
    {
      event_type: version === 1 ? 'INSTANCE_CREATED' : 'INSTANCE_UPDATED',
      aggregate_type: 'instance',
      aggregate_id: `${db}:${name}`,
      payload: { db_name: db, instance: { id: name, class_id: 'K', properties: { v }, relationships: {} } },
    },
    { commandId: randomUUID(), position: 0, version, occurredAt, actor: 'test', storageMode: 's3_only' },
  );
}

/** Appended to S3 alone, as a workflow that died right after its commit leaves it. */
async function inS3(e: EventEnvelope) {
  const appended = await infra.s3Store.append({ aggregate_type: e.aggregate_type, aggregate_id: e.aggregate_id }, e.aggregate_version === 1 ? 'no_stream' : e.aggregate_version - 1, [e]);
  return appended.events[0].s3;
}

async function projected(name: string): Promise<{ version: number; properties: unknown } | undefined> {
  const { rows } = await infra.pool.query(`SELECT version, properties FROM ${infra.readModelSchema}.instances WHERE db_name = $1 AND instance_id = $2`, [db, name]);
  return rows[0];
}

const ledgerStatus = async (eventId: string) => (await infra.ledger.byEventIds([eventId]))[0]?.status;

beforeAll(async () => {
  infra = await connectInfrastructure(s3Config, names);
  await infra.relay.start();
  // The database and its class, projected (the instance events below belong to its current life).
  const created = envelopeOf<unknown>(
    { event_type: 'DATABASE_CREATED', aggregate_type: 'database', aggregate_id: db, payload: { name: db } },
    { commandId: randomUUID(), position: 0, version: 1, occurredAt: new Date().toISOString(), actor: 'test', storageMode: 's3_only' },
  );
  const klass = envelopeOf<unknown>(
    {
      event_type: 'ONTOLOGY_CLASS_CREATED',
      aggregate_type: 'ontology_class',
      aggregate_id: `${db}:K`,
      payload: { db_name: db, definition: { id: 'K', label: 'K', properties: [{ name: 'v', type: 'string' }] } },
    },
    { commandId: randomUUID(), position: 0, version: 1, occurredAt: new Date().toISOString(), actor: 'test', storageMode: 's3_only' },
  );
  for (const e of [created, klass]) await infra.ledger.record([{ envelope: e, s3: await inS3(e) }]);
  await infra.projector.apply([created, klass]);
  await infra.relay.publish([created.event_id, klass.event_id]);
  await reconcile();
}, 120_000);

afterAll(async () => {
  await infra?.ownerPool.query(`DROP SCHEMA IF EXISTS ${names.schema} CASCADE; DROP SCHEMA IF EXISTS ${names.readModelSchema} CASCADE`).catch(() => undefined);
  await infra?.close();
});

test('an event committed behind the saved checkpoint (occurred_at minutes before the last run) is found', async () => {
  const now = instanceEvent('now', 1, 'now');
  await inS3(now);
  expect(await reconcile()).toMatchObject({ recorded: 1 });
  // Planned ten minutes ago, committed only now: its date-index entry sorts before the checkpoint.
  const late = instanceEvent('late', 1, 'late', new Date(Date.now() - 10 * 60_000).toISOString());
  await inS3(late);
  const result = await reconcile();
  expect(result).toMatchObject({ recorded: 1 });
  expect(await ledgerStatus(late.event_id)).toBe('delivered');
  expect(await projected('late')).toMatchObject({ version: 1, properties: { v: 'late' } });
  // Found once: the next run passes over it (the ledger has it), and the checkpoint did not go back.
  const again = await reconcile();
  expect(again).toMatchObject({ recorded: 0 });
  expect(again.checkpoint! >= result.checkpoint!).toBe(true);
});

test('an event delivered but never projected (its workflow terminated inside the projection) is projected', async () => {
  const e = instanceEvent('unprojected', 1, 'delivered only');
  await infra.ledger.record([{ envelope: e, s3: await inS3(e) }]);
  await infra.relay.publish([e.event_id]);
  expect(await ledgerStatus(e.event_id)).toBe('delivered');
  expect(await projected('unprojected')).toBeUndefined();
  const result = await reconcile();
  expect(result).toMatchObject({ recorded: 0, redelivered: 0, reprojected: 1 });
  expect(await projected('unprojected')).toMatchObject({ version: 1, properties: { v: 'delivered only' } });
  expect(await reconcile()).toMatchObject({ reprojected: 0 });
});

test('a stream whose predecessor can never be delivered does not stop the run; what it recorded is delivered and projected', async () => {
  // "stuck": v2 recorded and pending; v1 has no ledger row (its date-index entry lies an hour ahead,
  // past every scan's watermark), so the relay can never send v2.
  const v1 = instanceEvent('stuck', 1, 'one', new Date(Date.now() + 3_600_000).toISOString());
  const v2 = instanceEvent('stuck', 2, 'two');
  await inS3(v1);
  await infra.ledger.record([{ envelope: v2, s3: await inS3(v2) }]);
  const fresh = instanceEvent('fresh', 1, 'fresh');
  await inS3(fresh);
  const result = await reconcile();
  expect(result.recorded).toBe(1);
  expect(result.blocked_streams).toBeGreaterThanOrEqual(1);
  expect(await ledgerStatus(fresh.event_id)).toBe('delivered');
  expect(await projected('fresh')).toMatchObject({ version: 1, properties: { v: 'fresh' } });
  expect(await ledgerStatus(v2.event_id)).toBe('pending');
});

test('a pending successor of an event the ledger refused is not projected with the refused event filled in from S3', async () => {
  // The ledger holds another event at v1 that can never be sent, so it refuses S3's v1; v2 is recorded and waits.
  await infra.pool.query(
    `INSERT INTO ${infra.ledger.table} (event_id, command_id, aggregate_type, aggregate_id, aggregate_version, event_type, topic, key, payload, storage_mode, status, created_at)
     VALUES ($1, 'squatter', 'instance', $2, 1, 'INSTANCE_CREATED', $3, $2, '{}', 's3_only', 'failed', now() + interval '1 hour')`,
    [`squatter-${randomUUID()}`, `${db}:refused`, infra.topic],
  );
  const v1 = instanceEvent('refused', 1, 'refused');
  const v2 = instanceEvent('refused', 2, 'successor');
  await inS3(v1);
  await inS3(v2);
  const first = await reconcile();
  expect(first.set_aside_by['record:LEDGER_STREAM_CONFLICT']).toBe(1);
  expect(await ledgerStatus(v1.event_id)).toBeUndefined();
  expect(await ledgerStatus(v2.event_id)).toBe('pending');
  expect(await projected('refused')).toBeUndefined();
  // The next run finds v2 pending and projects it: its gap (v1) must not be filled with the refused event.
  await reconcile();
  expect(await projected('refused')).toBeUndefined();
});

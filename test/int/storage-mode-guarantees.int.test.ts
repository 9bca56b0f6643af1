/**
 * Every storage mode keeps every guarantee, across switches (issue 10, item 2), on the real
 * PostgreSQL and S3:
 * - dual_write completes a command only when both stores hold its events: a retry writes the copy
 *   its earlier attempt missed (before: the retry found the command in S3 and returned, and the
 *   legacy table stayed behind for good);
 * - a switch from legacy to an S3 mode without a backfill does not jam the ledger (before: S3 had
 *   none of the old streams, a command decided against an empty stream, wrote version 1 to S3
 *   and the ledger's unique stream+version key refused it: LEDGER_STREAM_CONFLICT forever).
 * Faults are injected in PostgreSQL itself (a trigger on the legacy table), not by a fake store.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { connectInfrastructure, Infrastructure } from '../../src/app/composition';
import { createActivities } from '../../src/activities';
import type { StorageMode } from '../../src/contracts/storage-mode';
import type { ProcessCommandInput } from '../../src/contracts/workflows';
import { testConfig, uniqueName } from '../support/env';

const name = uniqueName('modeguar');
const schema = name.replace(/-/g, '_');
let infra: Infrastructure;

beforeAll(async () => {
  infra = await connectInfrastructure(testConfig, { schema, readModelSchema: `${schema}_rm`, s3Prefix: `${name}/`, topic: name, poolMax: 8 });
  await infra.relay.start();
  await infra.ownerPool.query(`
    CREATE TABLE ${schema}.fault (on_insert boolean NOT NULL);
    CREATE FUNCTION ${schema}.legacy_fault() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM ${schema}.fault WHERE on_insert) THEN RAISE EXCEPTION 'injected: legacy table unavailable'; END IF;
        RETURN NEW;
      END $$;
    CREATE TRIGGER legacy_fault BEFORE INSERT ON ${schema}.legacy_events FOR EACH ROW EXECUTE FUNCTION ${schema}.legacy_fault();`);
}, 60_000);

afterAll(async () => {
  await infra?.ownerPool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_rm CASCADE`).catch(() => undefined);
  await infra?.close();
});

let seq = 0;
function input(mode: StorageMode, command: ProcessCommandInput['command']): ProcessCommandInput {
  seq += 1;
  return {
    command_id: `${name}-c${seq}`,
    command_type: command!.command_type,
    command,
    actor: 'test',
    submitted_at: new Date().toISOString(),
    storage_mode: mode,
  };
}

async function legacyRows(aggregateId: string) {
  const { rows } = await infra.pool.query(`SELECT event_id, aggregate_version FROM ${schema}.legacy_events WHERE aggregate_id = $1 ORDER BY aggregate_version`, [aggregateId]);
  return rows.map((r) => [r.aggregate_version, r.event_id]);
}
async function s3Events(aggregateType: string, aggregateId: string) {
  const events = await infra.s3Store.readStream({ aggregate_type: aggregateType, aggregate_id: aggregateId });
  return events.map((e) => [e.envelope.aggregate_version, e.envelope.event_id]);
}
async function ledgerRows(aggregateId: string) {
  const { rows } = await infra.pool.query(`SELECT event_id, aggregate_version FROM ${schema}.delivery_ledger WHERE aggregate_id = $1 ORDER BY aggregate_version`, [aggregateId]);
  return rows.map((r) => [r.aggregate_version, r.event_id]);
}

test('dual_write: a retried command writes the legacy copy its first attempt missed', async () => {
  const activities = createActivities(infra.activityDeps());
  const db = `${name.replace(/-/g, '')}a`.slice(0, 40);
  const cmd = input('dual_write', { command_type: 'CREATE_DATABASE', payload: { name: db } } as never);

  await infra.pool.query(`INSERT INTO ${schema}.fault VALUES (true)`);
  await expect(activities.runCommand(cmd)).rejects.toThrow();
  await infra.pool.query(`DELETE FROM ${schema}.fault`);
  // The first attempt stored the event in S3 only.
  expect(await s3Events('database', db)).toHaveLength(1);
  expect(await legacyRows(db)).toEqual([]);

  // Temporal's next attempt of the durable step (not local, attempt 2).
  const retried = (await new MockActivityEnvironment({ attempt: 2 } as never).run(activities.decideAndAppend, cmd)) as { version: number };
  expect(retried.version).toBe(1);
  expect(await legacyRows(db)).toEqual(await s3Events('database', db));
  expect(await ledgerRows(db)).toEqual(await s3Events('database', db));
});

test('legacy -> s3_only without a backfill: old streams are decided on their full history, the ledger never conflicts', async () => {
  const activities = createActivities(infra.activityDeps());
  const db = `${name.replace(/-/g, '')}b`.slice(0, 40);
  const gone = `${db}x`;
  const switchTo = async (to: StorageMode, force = false) => {
    await infra.modes.switchMode({ to, actor: 'test', reason: 'storage-mode-guarantees', force }, 0);
    infra.modeCache.invalidate();
  };
  await switchTo('legacy', true); // seeded s3_only: refused without a reverse sync
  await activities.runCommand(input('legacy', { command_type: 'CREATE_DATABASE', payload: { name: db } } as never));
  await activities.runCommand(input('legacy', { command_type: 'CREATE_DATABASE', payload: { name: gone } } as never));
  const legacyEvent = await legacyRows(db);
  expect(legacyEvent).toHaveLength(1);
  // No backfill, no verify: forced (audited).
  await switchTo('s3_only', true);
  expect((await infra.modes.auditLog(1))[0]).toMatchObject({ from_mode: 'legacy', to_mode: 's3_only', outcome: 'forced' });

  // The database exists: creating it again is refused, nothing is written at its version 1.
  await expect(activities.runCommand(input('s3_only', { command_type: 'CREATE_DATABASE', payload: { name: db } } as never))).rejects.toMatchObject({ type: 'DATABASE_EXISTS' });
  // A command on the old stream continues it at version 2.
  const deleted = await activities.runCommand(input('s3_only', { command_type: 'DELETE_DATABASE', payload: { name: gone } } as never));
  expect(deleted.version).toBe(2);

  const ledgerDb = await ledgerRows(db);
  expect(ledgerDb).toEqual(legacyEvent);
  const s3Db = await s3Events('database', db);
  expect(s3Db.every(([v, id]) => ledgerDb.some(([lv, lid]) => lv === v && lid === id))).toBe(true);
  // S3 holds the old stream's history (same event ids) followed by the new event, as the ledger does.
  expect(await s3Events('database', gone)).toEqual(await ledgerRows(gone));
  expect((await ledgerRows(gone)).map(([v]) => v)).toEqual([1, 2]);
});

/**
 * The activities in MockActivityEnvironment over in-memory ports: how refusals and adapter errors
 * leave them (the FAILURE_CODES classification, seen from the activity), how a durable retry after
 * a local attempt finds the stored command instead of appending again, and the heartbeats of a bulk
 * command while it claims and while it waits for another command's claim.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import type { Info } from '@temporalio/activity';
import { createActivities } from '../../src/activities';
import type { ActivityDeps } from '../../src/activities/deps';
import type { EventEnvelope } from '../../src/contracts/event-envelope';
import type { ProcessCommandInput } from '../../src/contracts/workflows';
import type { CommandInput } from '../../src/domain';
import { LedgerStreamConflictError } from '../../src/ports/ledger';
import { PredecessorNotDelivered } from '../../src/ports/relay';
import { ModeEventStore } from '../../src/adapters/mode-event-store';
import type { EventStore } from '../../src/ports/event-store';

const dualWriteOf = (primary: EventStore, legacy: EventStore) =>
  new ModeEventStore({ mode: 'dual_write', primary, secondary: legacy, mirror: true, secondaryMayLead: () => false, locks: { run: (_s, fn) => fn() } });
import { InMemoryEventStore, inMemoryDeps } from '../support/in-memory-activity-ports';

let seq = 0;
function inputOf(command: CommandInput, extra: Partial<ProcessCommandInput> = {}): ProcessCommandInput {
  return { command_id: `cmd-${++seq}`, command_type: command.command_type, command, actor: 'test', submitted_at: new Date().toISOString(), storage_mode: 's3_only', ...extra };
}
const createDatabase = (name: string): CommandInput => ({ command_type: 'CREATE_DATABASE', payload: { name } });
const database = (name: string) => ({ aggregate_type: 'database', aggregate_id: name });

/** Runs one activity as Temporal would, with this attempt's info; collects its heartbeats. */
async function run<A extends unknown[], R>(fn: (...args: A) => Promise<R>, args: A, info: Partial<Info> = {}): Promise<{ result?: R; error?: unknown; heartbeats: unknown[] }> {
  const env = new MockActivityEnvironment(info);
  const heartbeats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => heartbeats.push(d));
  try {
    return { result: await env.run(fn, ...args), heartbeats };
  } catch (error) {
    return { error, heartbeats };
  }
}

describe('failures leaving an activity', () => {
  test('a refusal is a non-retryable ApplicationFailure typed with its code, carrying the domain error, and stores nothing', async () => {
    const { deps, store } = inMemoryDeps();
    const acts = createActivities(deps);
    await run(acts.decideAndAppend, [inputOf(createDatabase('shop'))]);
    const { error } = await run(acts.decideAndAppend, [inputOf(createDatabase('shop'))]);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: 'DATABASE_EXISTS', nonRetryable: true });
    expect((error as ApplicationFailure).details?.[0]).toMatchObject({ code: 'DATABASE_EXISTS', status: 409 });
    expect(await store.currentVersion(database('shop'))).toBe(1);
  });

  test('an expected version the stream has moved past is refused as VERSION_CONFLICT before deciding', async () => {
    const { deps } = inMemoryDeps();
    const acts = createActivities(deps);
    await run(acts.decideAndAppend, [inputOf(createDatabase('shop'))]);
    const { error } = await run(acts.decideAndAppend, [inputOf({ command_type: 'DELETE_DATABASE', payload: { name: 'shop' } }, { expected_version: 0 })]);
    expect(error).toMatchObject({ type: 'VERSION_CONFLICT', nonRetryable: true, details: [{ code: 'VERSION_CONFLICT', details: [{ path: 'expected_version' }] }] });
  });

  test.each([
    ['a final code (LEDGER_STREAM_CONFLICT) ends retries', new LedgerStreamConflictError(['e1'], new Error('duplicate key value violates unique constraint')), true],
    ['a retried code (PREDECESSOR_NOT_DELIVERED) keeps retrying', new PredecessorNotDelivered(['e1'], 0), false],
  ])('an adapter error leaves the activity typed with its code: %s', async (_name, err, final) => {
    const fail = async () => Promise.reject(err);
    const { deps } = inMemoryDeps({ ledger: { record: fail }, relay: { publishThrough: fail } });
    const acts = createActivities(deps);
    const failed = err instanceof LedgerStreamConflictError ? await run(acts.decideAndAppend, [inputOf(createDatabase('shop'))]) : await run(acts.deliver, [['e1']]);
    expect(failed.error).toBeInstanceOf(ApplicationFailure);
    expect(failed.error).toMatchObject({ type: err.code, nonRetryable: final });
    // Our own words only: the cause's text (SQL) stays in the log.
    expect((failed.error as Error).message).not.toMatch(/duplicate key/);
  });

  test('an untyped error leaves the activity unchanged (retried under its class name)', async () => {
    const down = new Error('socket hang up');
    const { deps } = inMemoryDeps({ relay: { publishThrough: async () => Promise.reject(down) } });
    expect((await run(createActivities(deps).deliver, [['e1']])).error).toBe(down);
  });
});

describe('retries', () => {
  test('the durable attempt after a local one that appended finds the stored command: same version and event, nothing appended again', async () => {
    let ledgerCalls = 0;
    const { deps, store, ledgerRows } = inMemoryDeps();
    const record = deps.ledger.record;
    deps.ledger.record = async (rows) => {
      if (ledgerCalls++ === 0) throw new Error('connection terminated unexpectedly');
      return record(rows);
    };
    const acts = createActivities(deps);
    const input = inputOf(createDatabase('shop'));
    expect((await run(acts.decideAndAppend, [input], { isLocal: true })).error).toMatchObject({ message: 'connection terminated unexpectedly' });
    const [stored] = await store.readStream(database('shop'));

    const { result } = await run(acts.decideAndAppend, [input], { isLocal: false, attempt: 1 });
    expect(result).toMatchObject({ version: 1, events: [{ event_id: stored.envelope.event_id, version: 1 }] });
    expect(await store.currentVersion(database('shop'))).toBe(1);
    expect(ledgerRows.map((r) => r.envelope.event_id)).toEqual([stored.envelope.event_id]);
  });
});

describe('heartbeats of a bulk command', () => {
  const Thing = { id: 'Thing', label: 'Thing', abstract: false, properties: [], relationships: [] };

  async function withDatabase(overrides: Partial<ActivityDeps> = {}) {
    const ports = inMemoryDeps(overrides);
    ports.context.classes.set('shop', { Thing: Thing as never });
    const acts = createActivities(ports.deps);
    await run(acts.decideAndAppend, [inputOf(createDatabase('shop'))]);
    return { ...ports, acts };
  }
  const bulk = (ids: string[], commandId?: string) =>
    inputOf(
      { command_type: 'BULK_CREATE_INSTANCES', db_name: 'shop', batch_id: `b-${seq}`, payload: { class_id: 'Thing', instances: ids.map((id) => ({ id })) } },
      commandId ? { command_id: commandId } : {},
    );

  test('claiming heartbeats every 500 instances as a durable activity, and never as a local one', async () => {
    const { acts } = await withDatabase();
    const ids = Array.from({ length: 1000 }, (_, i) => `t${i}`);
    const durable = await run(acts.prepareBulk, [bulk(ids)]);
    expect(durable.result).toMatchObject({ instances_total: 1000 });
    expect(durable.heartbeats).toEqual([{ claims: 500 }, { claims: 1000 }]);
    const local = await run(acts.prepareBulk, [bulk(ids.map((id) => `${id}-2`))], { isLocal: true });
    expect(local.result).toMatchObject({ instances_total: 1000 });
    expect(local.heartbeats).toEqual([]);
  });

  test("waiting for an older command's undecided claim heartbeats who it waits for, then voids that claim after the patience and goes on", async () => {
    const { acts, store } = await withDatabase({ claimPatienceMs: 300 });
    // An older bulk (smaller command id) claimed t1 and never decided: its run died.
    const holder = 'cmd-0-older';
    const claim: EventEnvelope = {
      event_id: 'claim-1',
      event_type: 'INSTANCE_CREATED',
      aggregate_type: 'instance',
      aggregate_id: 'shop:t1',
      aggregate_version: 1,
      occurred_at: new Date().toISOString(),
      actor: 'test',
      command_id: holder,
      schema_version: 1,
      payload: { db_name: 'shop', instance: { id: 't1' } },
      metadata: { storage_mode: 's3_only', claimed_by: holder },
    };
    expect(await store.claim(claim)).toBe('claimed');

    const started = Date.now();
    const { result, heartbeats } = await run(acts.prepareBulk, [bulk(['t1', 't2'], 'cmd-9-younger')]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(heartbeats.length).toBeGreaterThan(0);
    expect(new Set(heartbeats.map((h) => JSON.stringify(h)))).toEqual(new Set([JSON.stringify({ waiting_for: holder })]));
    expect(result).toMatchObject({ instances_total: 2 });
    // The dead claim is voided and keeps its version; the younger bulk claimed the next one.
    expect((await store.readStream({ aggregate_type: 'instance', aggregate_id: 'shop:t1' })).map((e) => [e.envelope.event_type, e.envelope.metadata.claimed_by])).toEqual([
      ['CLAIM_VOIDED', holder],
      ['INSTANCE_CREATED', 'cmd-9-younger'],
    ]);
  });
});

describe('dual_write mode', () => {
  /** The dual-write store over two in-memory stores, the legacy one already holding another event at version 1 of the stream. */
  async function diverged() {
    const s3 = new InMemoryEventStore();
    const legacy = new InMemoryEventStore();
    const { deps } = inMemoryDeps();
    deps.eventStores = { ...deps.eventStores, dual_write: dualWriteOf(s3, legacy) };
    const other = await run(createActivities({ ...deps, eventStores: { ...deps.eventStores, dual_write: legacy } }).decideAndAppend, [inputOf(createDatabase('shop'), { storage_mode: 'dual_write' })]);
    expect(other.error).toBeUndefined();
    return { acts: createActivities(deps), s3, legacy };
  }

  test('a copy the legacy store refuses makes the first append attempt fail', async () => {
    const { s3, legacy } = await diverged();
    const dual = dualWriteOf(s3, legacy);
    const e = { ...(await legacy.readStream(database('shop')))[0].envelope, event_id: 'another', payload: { name: 'shop' } };
    await expect(dual.append(database('shop'), 'no_stream', [e])).rejects.toMatchObject({ code: 'STORE_CORRUPTED' });
  });

  // Fixed by issue 10: a diverged mirror is STORE_CORRUPTED (final), not a lost race that re-decides.
  test('a command whose legacy copy cannot be written does not complete', async () => {
    const { acts, s3, legacy } = await diverged();
    const { error } = await run(acts.decideAndAppend, [inputOf(createDatabase('shop'), { storage_mode: 'dual_write' })]);
    expect(await s3.currentVersion(database('shop'))).toBe(1);
    expect((await legacy.readStream(database('shop')))[0].envelope.command_id).not.toBe((await s3.readStream(database('shop')))[0].envelope.command_id);
    expect(error).toBeDefined();
  });
});

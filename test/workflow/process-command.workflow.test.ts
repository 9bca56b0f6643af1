/**
 * processCommand's own logic, on a Temporal dev server of its own, with the real activities over
 * in-memory ports (test/support/in-memory-activity-ports.ts): the fast path's fallback to durable
 * activities, refusals reaching the client as the workflow's failure with their code, bulk batches
 * whose delivery overlaps the next append, and the progress query.
 */
import { ActivityFailure, ApplicationFailure, type Client, WorkflowFailedError } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { createActivities, type Activities } from '../../src/activities';
import { eventIdFor } from '../../src/contracts/event-envelope';
import type { CommandInput } from '../../src/domain';
import { progressQuery, workflowIdOf, WORKFLOW_TYPE, type CommandProgress, type ProcessCommandInput, type ProcessCommandResult } from '../../src/contracts/workflows';
import { eventually, uniqueName } from '../support/env';
import { inMemoryDeps } from '../support/in-memory-activity-ports';
import { WorkflowTestBed } from '../support/workflow-env';
import { MemorySubjectKeys } from '../support/memory-subject-keys';
import { AesPersonalDataCipher, CommandBodyCipher, commandBodySubject } from '../../src/adapters/personal-data-cipher';

let bed: WorkflowTestBed;
beforeAll(async () => {
  bed = await WorkflowTestBed.start(Object.keys(createActivities(inMemoryDeps().deps)));
}, 60_000);
afterAll(() => bed?.stop());

/** Runs `fn` while the worker runs these activities. */
async function withWorker<T>(activities: object, fn: (client: Client, taskQueue: string) => Promise<T>): Promise<T> {
  bed.use(activities);
  return fn(bed.client, bed.taskQueue);
}

/** Gates still closed: opened after each test, so a workflow broken by a change fails its test instead of hanging the file. */
const closed = new Set<() => void>();
afterEach(() => closed.forEach((open) => open()));

/** A gate a fake holds closed until the test opens it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  closed.add(open);
  return { open, opened };
}

/** The activities, each call recorded as "name" or "name (local)" before it runs. */
function traced(activities: Activities, calls: string[]): Activities {
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      (...args: never[]) => {
        calls.push(Context.current().info.isLocal ? `${name} (local)` : name);
        return (fn as (...a: never[]) => Promise<unknown>)(...args);
      },
    ]),
  ) as Activities;
}

function inputOf(command: CommandInput, extra: Partial<ProcessCommandInput> = {}): ProcessCommandInput {
  return { command_id: uniqueName('cmd'), command_type: command.command_type, command, actor: 'test', submitted_at: new Date().toISOString(), storage_mode: 's3_only', ...extra };
}

const createDatabase = (name: string): CommandInput => ({ command_type: 'CREATE_DATABASE', payload: { name } });

/** Starts processCommand as the API does (one workflow id per command). */
function start(client: Client, taskQueue: string, input: ProcessCommandInput) {
  return client.workflow.start(WORKFLOW_TYPE, { taskQueue, workflowId: workflowIdOf(input.command_id), args: [input] });
}

/** The failure a client sees for a workflow that failed (its cause is the workflow's own failure). */
async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return (err as WorkflowFailedError).cause as ApplicationFailure;
}

describe('fast path', () => {
  test('a single command runs as one local activity when nothing fails', async () => {
    const { deps, store, projected } = inMemoryDeps();
    const calls: string[] = [];
    const db = uniqueName('db').replace(/-/g, '_');
    const result = await withWorker(traced(createActivities(deps), calls), async (client, tq) => (await start(client, tq, inputOf(createDatabase(db)))).result());
    expect(calls).toEqual(['runCommand (local)']);
    expect(result).toMatchObject({ aggregate_type: 'database', aggregate_id: db, version: 1, event_count: 1 });
    expect((await store.readStream({ aggregate_type: 'database', aggregate_id: db })).map((e) => e.envelope.event_type)).toEqual(['DATABASE_CREATED']);
    expect(projected.flat().map((e) => e.event_type)).toEqual(['DATABASE_CREATED']);
  });

  test('after the local attempt fails past its append, durable activities finish the command without appending twice', async () => {
    const { deps, store, projected, delivered } = inMemoryDeps();
    const apply = deps.projector.apply;
    let projections = 0;
    deps.projector.apply = async (events) => {
      if (projections++ === 0) throw new Error('read models unreachable');
      return apply(events);
    };
    const calls: string[] = [];
    const db = uniqueName('db').replace(/-/g, '_');
    const result = await withWorker(traced(createActivities(deps), calls), async (client, tq) => (await start(client, tq, inputOf(createDatabase(db)))).result());

    expect(calls[0]).toBe('runCommand (local)');
    // The durable steps continue where the local attempt stopped: decideAndAppend finds the stored command.
    expect([calls[1], ...calls.slice(2).sort()]).toEqual(['decideAndAppend', 'deliver', 'project']);
    expect(result).toMatchObject({ version: 1, event_count: 1 });
    const stored = await store.readStream({ aggregate_type: 'database', aggregate_id: db });
    expect(stored.map((e) => e.envelope.event_id)).toEqual([result.events[0].event_id]);
    expect(projected.flat().map((e) => e.event_id)).toEqual([result.events[0].event_id]);
    expect(delivered.flat()).toContain(result.events[0].event_id);
  });
});

describe('refusals', () => {
  /** Creates a database, then runs CREATE_DATABASE again: the activity calls of the second run, and its handle's outcome. */
  async function refusedTwice() {
    const { deps, store } = inMemoryDeps();
    const calls: string[] = [];
    const db = uniqueName('db').replace(/-/g, '_');
    const outcome = await withWorker(traced(createActivities(deps), calls), async (client, tq) => {
      await (await start(client, tq, inputOf(createDatabase(db)))).result();
      calls.length = 0;
      const again = await start(client, tq, inputOf(createDatabase(db)));
      const failure = await failureOf(again.result());
      return { failure, progress: await again.query(progressQuery) };
    });
    return { ...outcome, calls, version: await store.currentVersion({ aggregate_type: 'database', aggregate_id: db }) };
  }

  test("a refusal reaches the client as the workflow's own failure with its code, and nothing is stored", async () => {
    const { failure, progress, version } = await refusedTwice();
    // The workflow's failure itself, not an ActivityFailure wrapping it.
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).not.toBeInstanceOf(ActivityFailure);
    expect(failure).toMatchObject({ type: 'DATABASE_EXISTS', nonRetryable: true });
    expect(failure.details?.[0]).toMatchObject({ code: 'DATABASE_EXISTS', status: 409 });
    expect(progress).toMatchObject({ phase: 'FAILED' });
    expect(version).toBe(1);
  });

  // Histories recorded before the fix replay the old branch (test/fixtures/histories/v2-refused-instance.json).
  test('a refusal in the local fast path is final: no durable activity decides the command again', async () => {
    const { calls } = await refusedTwice();
    expect(calls).toEqual(['runCommand (local)']);
  });

  test('an expected version the stream has moved past fails the workflow with VERSION_CONFLICT, also in the durable path', async () => {
    const { deps } = inMemoryDeps();
    const db = uniqueName('db').replace(/-/g, '_');
    const acts = createActivities(deps);
    // The local attempt fails on something retryable: the refusal then comes from decideAndAppend.
    const withSlowLocal = { ...acts, runCommand: async () => Promise.reject(new Error('local attempt timed out')) };
    await withWorker(withSlowLocal, async (client, tq) => {
      await (await start(client, tq, inputOf(createDatabase(db)))).result();
      const failure = await failureOf((await start(client, tq, inputOf({ command_type: 'DELETE_DATABASE', payload: { name: db } }, { expected_version: 0 }))).result());
      expect(failure).toMatchObject({ type: 'VERSION_CONFLICT', nonRetryable: true, message: 'expected version 0, current version is 1' });
      expect(failure.details?.[0]).toMatchObject({ code: 'VERSION_CONFLICT', details: [{ path: 'expected_version' }] });
    });
  });
});

describe('bulk commands', () => {
  const Thing = { id: 'Thing', label: 'Thing', abstract: false, properties: [{ name: 'name', type: 'string', required: true }], relationships: [] };

  test('delivery of a batch overlaps the append of the next one, batches are delivered in order, and progress tells how far it is', async () => {
    const { deps, store, context, delivered } = inMemoryDeps({ bulkBatchSize: 2 });
    const db = uniqueName('db').replace(/-/g, '_');
    context.classes.set(db, { Thing: Thing as never });
    const calls: string[] = [];
    const firstBatchDelivery = gate();
    const bulk = inputOf({
      command_type: 'BULK_CREATE_INSTANCES',
      db_name: db,
      batch_id: 'b1',
      payload: { class_id: 'Thing', instances: [1, 2, 3, 4, 5].map((i) => ({ id: `t${i}`, properties: { name: `n${i}` } })) },
    });
    const batchOf = (eventId: string) => [0, 1, 2].find((b) => eventIdFor(bulk.command_id, b) === eventId);
    const publish = deps.relay.publishThrough;
    const deliveries: string[] = [];
    deps.relay.publishThrough = async (ids) => {
      const batch = batchOf(ids[0]);
      if (batch === 0) await firstBatchDelivery.opened;
      if (batch !== undefined) deliveries.push(`delivered ${batch}`);
      return publish(ids);
    };
    const acts = traced(createActivities(deps), calls);
    const appendBulkBatch = acts.appendBulkBatch;
    acts.appendBulkBatch = async (a) => {
      deliveries.push(`append ${a.batch}`);
      return appendBulkBatch(a);
    };

    const { result, during, after } = await withWorker(acts, async (client, tq) => {
      await (await start(client, tq, inputOf(createDatabase(db)))).result();
      const handle = await start(client, tq, bulk);
      // Batch 0's delivery is held: the next batch must be appended meanwhile.
      await eventually(
        async () => deliveries,
        (d) => d.includes('append 1'),
        10_000,
      );
      const during: CommandProgress = await handle.query(progressQuery);
      firstBatchDelivery.open();
      const result: ProcessCommandResult = await handle.result();
      return { result, during, after: await handle.query(progressQuery) };
    });

    expect(deliveries.indexOf('append 1')).toBeLessThan(deliveries.indexOf('delivered 0'));
    expect(deliveries.filter((d) => d.startsWith('delivered'))).toEqual(['delivered 0', 'delivered 1', 'delivered 2']);
    expect(during).toMatchObject({ phase: 'APPENDING', batches_total: 3, instances_total: 5, batches_done: 0 });
    expect(during.events.map((e) => e.event_id)).toEqual(expect.arrayContaining([eventIdFor(bulk.command_id, 0), eventIdFor(bulk.command_id, 1)]));
    expect(after).toMatchObject({ phase: 'COMPLETED', batches_total: 3, batches_done: 3 });
    expect(result).toMatchObject({ aggregate_type: 'instance_batch', version: 3, event_count: 3 });
    expect(calls.filter((c) => c === 'prepareBulk')).toHaveLength(1);
    const batches = await store.readStream({ aggregate_type: result.aggregate_type, aggregate_id: result.aggregate_id });
    expect(batches.map((e) => (e.envelope.payload as { instances: { id: string }[] }).instances.map((i) => i.id))).toEqual([['t1', 't2'], ['t3', 't4'], ['t5']]);
    expect(delivered.flat()).toEqual(expect.arrayContaining(batches.map((b) => b.envelope.event_id)));
  });
});

describe('progress query', () => {
  test('a single command in its durable path reports DELIVERING with its appended events, then COMPLETED', async () => {
    const { deps } = inMemoryDeps();
    const acts = createActivities(deps);
    const projection = gate();
    const project = acts.project;
    const held = {
      ...acts,
      runCommand: async () => Promise.reject(new Error('local attempt timed out')),
      project: async (refs: Parameters<Activities['project']>[0]) => {
        await projection.opened;
        return project(refs);
      },
    };
    const db = uniqueName('db').replace(/-/g, '_');
    const [pending, delivering, completed] = await withWorker(held, async (client, tq) => {
      const handle = await start(client, tq, inputOf(createDatabase(db)));
      const pending: CommandProgress = await handle.query(progressQuery);
      const delivering = await eventually(
        () => handle.query(progressQuery),
        (p) => p.phase === 'DELIVERING',
        10_000,
      );
      projection.open();
      await handle.result();
      return [pending, delivering, await handle.query(progressQuery)];
    });
    expect(['PENDING', 'DECIDING']).toContain(pending.phase);
    expect(delivering.events).toEqual([expect.objectContaining({ event_type: 'DATABASE_CREATED', aggregate_id: db, version: 1 })]);
    expect(completed).toMatchObject({ phase: 'COMPLETED', events: delivering.events });
  });
});

describe('command bodies kept in S3', () => {
  /** Activities whose command bodies are sealed under per-command keys held in memory. */
  function withBodyKeys() {
    const keys = new MemorySubjectKeys();
    const bodies = new CommandBodyCipher(keys);
    const purge = { purgeInstance: async () => ({ read_model: false, search: false }) };
    const ports = inMemoryDeps({ personalData: { cipher: new AesPersonalDataCipher(keys), keys, purge, bodies } });
    return { ...ports, keys, bodies };
  }

  /** The input the API builds for a body too large to travel inline: sealed in the blob store, passed by reference. */
  async function byReference(ports: ReturnType<typeof withBodyKeys>, command: CommandInput): Promise<ProcessCommandInput> {
    const input = inputOf(command);
    const ref = { ...ports.blobs.planOf(input.command_id), key: `commands/${input.command_id}/body.json` };
    await ports.blobs.putJson(ref, await ports.bodies.seal(input.command_id, command));
    return { ...input, command: undefined, command_ref: ref };
  }

  test("a command read from a sealed body completes, and its body's key is forgotten as its last step", async () => {
    const ports = withBodyKeys();
    const calls: string[] = [];
    const db = uniqueName('db').replace(/-/g, '_');
    const input = await byReference(ports, createDatabase(db));
    const inline = inputOf(createDatabase(`${db}_inline`));
    await withWorker(traced(createActivities(ports.deps), calls), async (client, tq) => {
      await (await start(client, tq, input)).result();
      expect(calls).toEqual(['runCommand (local)', 'forgetCommandBody (local)']);
      calls.length = 0;
      await (await start(client, tq, inline)).result();
      expect(calls).toEqual(['runCommand (local)']);
    });
    expect(await ports.store.currentVersion({ aggregate_type: 'database', aggregate_id: db })).toBe(1);
    expect(ports.keys.keys.has(commandBodySubject(input.command_id))).toBe(false);
  });

  test("a refused command's body is forgotten too, and a later run of its id finds no body to read", async () => {
    const ports = withBodyKeys();
    const db = uniqueName('db').replace(/-/g, '_');
    const refused = await byReference(ports, { command_type: 'DELETE_DATABASE', payload: { name: db } });
    await withWorker(createActivities(ports.deps), async (client, tq) => {
      expect(await failureOf((await start(client, tq, refused)).result())).toMatchObject({ type: 'DATABASE_NOT_FOUND' });
      expect(ports.keys.keys.has(commandBodySubject(refused.command_id))).toBe(false);
      const again = await client.workflow.start(WORKFLOW_TYPE, { taskQueue: tq, workflowId: `${workflowIdOf(refused.command_id)}-again`, args: [refused] });
      expect(await failureOf(again.result())).toMatchObject({ type: 'INVALID_COMMAND' });
    });
  });
});

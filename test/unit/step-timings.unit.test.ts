/**
 * Each command activity returns what its steps did and how long they took (the Web UI shows an
 * activity's result on the run's page): the fast path's single local activity as its three parts
 * with the adapter calls inside each, the durable steps as their adapter calls.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities';
import type { ProcessCommandInput } from '../../src/contracts/workflows';
import { appendOutcome, instrument } from '../../src/app/instrument';
import { AppendedEventReader } from '../../src/adapters/appended-events';
import { collectSteps, timedStep } from '../../src/lib/step-timings';
import type { StepReport } from '../../src/activities';
import type { AppendedEventRef } from '../../src/contracts/workflows';
import { inMemoryDeps } from '../support/in-memory-activity-ports';

const input = (command_id: string, name: string): ProcessCommandInput => ({
  command_id,
  command_type: 'CREATE_DATABASE',
  command: { command_type: 'CREATE_DATABASE', payload: { name } },
  actor: 'test',
  submitted_at: new Date().toISOString(),
  storage_mode: 's3_only',
});

/** The in-memory adapters measured as the composition root measures the real ones. */
function measuredActivities() {
  const { deps, store: memory } = inMemoryDeps();
  const store = instrument(memory, { append: { step: 's3_append', outcomeOf: appendOutcome }, readStream: 's3_read', readEvent: 's3_read' });
  return createActivities({
    ...deps,
    eventStores: { s3_only: store, legacy: store, dual_write: store },
    appendedEvents: new AppendedEventReader(store, store),
    ledger: instrument(deps.ledger, { record: 'ledger_record' }),
    relay: instrument(deps.relay, { publishThrough: 'kafka_publish' }),
    projector: instrument(deps.projector, { apply: 'projection' }),
  });
}

/** Runs one activity as Temporal would (local or not). */
const run = <R>(fn: (arg: never) => Promise<R>, arg: unknown, isLocal = false) => new MockActivityEnvironment({ isLocal }).run(fn as (a: unknown) => Promise<R>, arg) as Promise<R>;
type Appended = { aggregate_type: string; events: AppendedEventRef[] } & StepReport;

test("the fast path's local activity returns each part, what it did, when and how long, with the adapter calls inside", async () => {
  const acts = measuredActivities();
  const result = await run<Appended>(acts.runCommand, input('c1', 'shop'), true);
  expect(result.events).toHaveLength(1);
  expect(result.steps.map((s) => [s.step, s.did, s.outcome])).toEqual([
    ['decide_and_append', '1 event(s) on database/shop, now at version 1', 'success'],
    ['deliver', 'published 1 event(s) to Kafka', 'success'],
    ['project', 'projected 1 event(s) into the read models', 'success'],
  ]);
  const [append, deliver, project] = result.steps;
  expect(append.steps?.map((s) => s.step)).toEqual(expect.arrayContaining(['s3_append', 'ledger_record']));
  expect(deliver.steps?.map((s) => s.step)).toEqual(['kafka_publish']);
  expect(project.steps?.map((s) => s.step)).toEqual(['projection']);
  for (const s of [...result.steps, ...result.steps.flatMap((p) => p.steps ?? [])]) {
    expect(s.ms).toBeGreaterThanOrEqual(0);
    expect(s.at_ms).toBeGreaterThanOrEqual(0);
  }
  // Delivery and projection start once the events are appended and run side by side.
  expect(deliver.at_ms).toBeGreaterThanOrEqual(append.at_ms + append.ms - 0.2);
});

test('a durable step returns its adapter calls; the result stays what the workflow reads', async () => {
  const acts = measuredActivities();
  const appended = await run<Appended>(acts.decideAndAppend, input('c2', 'crm'));
  expect(appended).toMatchObject({ aggregate_type: 'database', aggregate_id: 'crm', version: 1 });
  expect(appended.steps.map((s) => s.step)).toEqual(expect.arrayContaining(['s3_append', 'ledger_record']));
  const delivered = await run<StepReport>(
    acts.deliver,
    appended.events.map((e) => e.event_id),
  );
  expect(delivered.steps.map((s) => [s.step, s.outcome])).toEqual([['kafka_publish', 'success']]);
});

test('many calls of one kind become one entry with their count; failures keep their outcome', async () => {
  const { result, steps } = await collectSteps(async () => {
    for (let i = 0; i < 500; i++) await timedStep('s3_read', async () => i);
    await timedStep('s3_append', () => Promise.reject(new Error('lost')), { outcomeOf: () => 'conflict' }).catch(() => undefined);
    return 'done';
  });
  expect(result).toBe('done');
  expect(steps.map((s) => [s.step, s.outcome, s.calls])).toEqual([
    ['s3_read', 'success', 500],
    ['s3_append', 'conflict', undefined],
  ]);
  // Outside a collection nothing is kept.
  expect(await timedStep('s3_read', async () => 7)).toBe(7);
});

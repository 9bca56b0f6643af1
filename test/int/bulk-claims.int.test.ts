/**
 * Bulk claims against the real stores, through the activities (no Temporal): how a bulk meets
 * another command's undecided claim.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { connectInfrastructure, Infrastructure } from '../../src/app/composition';
import { createActivities } from '../../src/activities';
import type { EventEnvelope } from '../../src/contracts/event-envelope';
import type { EventStore } from '../../src/ports/event-store';
import { instanceAggregateId } from '../../src/domain/identifiers';
import type { ProcessCommandInput } from '../../src/contracts/workflows';
import { testConfig, uniqueName } from '../support/env';

let infra: Infrastructure;
const db = 'claims';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inputOf = (command_id: string, command: Record<string, unknown>): ProcessCommandInput =>
  ({ command_id, command_type: command.command_type, actor: 'test', submitted_at: new Date().toISOString(), storage_mode: 's3_only', command }) as never;

beforeAll(async () => {
  const name = uniqueName('int_claims').replace(/-/g, '_');
  infra = await connectInfrastructure(testConfig, { schema: name, readModelSchema: `${name}_rm`, s3Prefix: `${name}/`, topic: name });
  const acts = createActivities(infra.activityDeps());
  for (const c of [
    { command_type: 'CREATE_DATABASE', payload: { name: db } },
    { command_type: 'CREATE_ONTOLOGY_CLASS', db_name: db, payload: { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] } },
  ]) {
    const out = await acts.decideAndAppend(inputOf(randomUUID(), c));
    await acts.project(out.events);
  }
});
afterAll(async () => {
  await infra?.close();
});

test("a bulk waits its patience from the moment it meets an older command's undecided claim, not from its own start: the older one, still running, keeps its claim", async () => {
  const patienceMs = 2000;
  const older = `a-${randomUUID()}`;
  const younger = `b-${randomUUID()}`;
  const x = { aggregate_type: 'instance', aggregate_id: instanceAggregateId(db, 'x', 1) };
  const store = infra.s3Store;
  const pending: EventEnvelope = {
    event_id: randomUUID(),
    event_type: 'INSTANCE_CREATED',
    ...x,
    aggregate_version: 1,
    occurred_at: new Date().toISOString(),
    actor: 'test',
    command_id: older,
    schema_version: 1,
    payload: { db_name: db, instance: { id: 'x', class_id: 'Item', properties: { n: 0 } } },
    metadata: { storage_mode: 's3_only', claimed_by: older },
  };
  expect(await store.claim(pending)).toBe('claimed');

  // The younger bulk reaches 'x' after longer than its patience (a large bulk's claims take that long).
  let metAt = 0;
  const base = infra.activityDeps();
  const slow: EventStore = Object.assign(Object.create(store) as EventStore, {
    claim: async (entry: EventEnvelope) => {
      if (entry.aggregate_id === x.aggregate_id && metAt === 0) {
        await sleep(patienceMs + 1000);
        metAt = Date.now();
      }
      return store.claim(entry);
    },
  });
  const acts = createActivities({ ...base, eventStores: { ...base.eventStores, s3_only: slow }, claimPatienceMs: patienceMs });
  const bulk = {
    command_type: 'BULK_CREATE_INSTANCES',
    db_name: db,
    batch_id: younger,
    payload: {
      class_id: 'Item',
      instances: [
        { id: 'y', properties: { n: 1 } },
        { id: 'x', properties: { n: 2 } },
      ],
    },
  };
  const running = acts.prepareBulk(inputOf(younger, bulk)).then(
    () => 'planned',
    (e: ApplicationFailure) => e.type,
  );
  // The older command is alive: it decides half its patience after the younger met its claim.
  while (metAt === 0) await sleep(20);
  await sleep(patienceMs / 2);
  const olderDecision = await store.decideClaims(older, 'commit', { request_hash: 'h', stream: { aggregate_type: 'instance_batch', aggregate_id: `${db}:${older}` } });

  expect(olderDecision).toBe('commit');
  expect(await running).toBe('INSTANCE_EXISTS');
  const read = await store.readStream(x);
  expect(read.map((e) => [e.envelope.aggregate_version, e.envelope.event_type, e.envelope.metadata.claimed_by])).toEqual([[1, 'INSTANCE_CREATED', older]]);
}, 60_000);

/**
 * Group commit under a crash (issue 18 item 5): a worker process SIGKILLed inside the S3 store's
 * group commit, after every command of the group wrote its marker, body and date entry and before
 * any version was committed. Those markers name versions beyond the stream's end that only the dead
 * writer could have reached in order. The commands come back on the other workers in whatever
 * order Temporal retries them; each must still be stored once, none may wait for good (the first
 * clean-clone CI with group commit left three commands retrying "expected 16, current 16"), and the
 * versions a command takes to get past a dead marker (voided claim entries) are recorded, so
 * delivery never waits for them.
 */
import { CLAIM_VOIDED } from '../../src/ports/event-store';
import { GROUP_CRASH_POINT } from '../../src/lib/crash-points';
import { startPipeline, Pipeline } from '../support/pipeline';
import { startCrashWorkers, type CrashWorkers } from '../support/crash-workers';
import { eventually, testConfig } from '../support/env';
import { commandFinished, sendJson, seedDatabase } from '../support/http';
import { checkInvariants, problems } from '../support/invariants';

const db = 'groupcrash';
const WRITERS = 12;
const WORKERS = 2;
const hot = `${db}:hot`;

let p: Pipeline;
let crash: CrashWorkers;

const send = (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, route, body, headers);

beforeAll(async () => {
  p = await startPipeline('e2e-group-crash', testConfig, { worker: false });
  crash = await startCrashWorkers(p, WORKERS, 'group-crash-worker', [`${GROUP_CRASH_POINT}@${hot}`]);
  await seedDatabase(p.url, db, { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] });
}, 600_000);

afterAll(async () => {
  await crash?.stop();
  await p?.close();
}, 120_000);

test(`a worker killed between a group's markers and its commits: all ${WRITERS} commands stored once, recorded, delivered in order, projected`, async () => {
  expect((await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'hot', properties: { n: 0 } }, { prefer: 'wait=60' })).status).toBe(201);
  // Until a group forms (commands wait for the stream while one is in flight) and its writer dies.
  const accepted: string[] = [];
  const sentN = new Map<string, number>();
  const crashed = () => crash.fired(GROUP_CRASH_POINT, hot);
  for (let round = 0; round < 10 && !crashed(); round++) {
    const sent = await Promise.all(Array.from({ length: WRITERS }, (_, i) => send('PUT', `/databases/${db}/classes/Item/instances/hot`, { properties: { n: round * 100 + i + 1 } })));
    expect(sent.map((r) => r.status)).toEqual(Array(WRITERS).fill(202));
    sent.forEach((r, i) => sentN.set(r.body.command_id, round * 100 + i + 1));
    accepted.push(...sent.map((r) => r.body.command_id as string));
    await eventually(
      async () => crashed(),
      (c) => c,
      5_000,
    ).catch(() => undefined);
  }
  expect(crashed()).toBe(true);

  const results = [];
  for (const id of accepted) results.push(await commandFinished(p.url, id, 240_000));
  expect(results.map((r) => r.status)).toEqual(Array(accepted.length).fill('COMPLETED'));

  // S3: each command's one event once; the versions without a gap, voided entries allowed where a dead marker was passed.
  const eventIds = results.map((r) => r.result.events[0].event_id as string);
  expect(new Set(eventIds).size).toBe(accepted.length);
  const events = (await p.api.infra.s3Store.readStream({ aggregate_type: 'instance', aggregate_id: hot })).map((e) => e.envelope);
  expect(events.map((e) => e.aggregate_version)).toEqual(events.map((_, i) => i + 1));
  const stored = events.filter((e) => e.event_type !== CLAIM_VOIDED);
  expect(
    stored
      .slice(1)
      .map((e) => e.event_id)
      .sort(),
  ).toEqual([...eventIds].sort());
  for (const r of results) expect(stored.find((e) => e.event_id === r.result.events[0].event_id)?.aggregate_version).toBe(r.result.version);

  // Ledger, Kafka, read models: every version recorded and delivered, in order, once after dedupe; the projection equals a rebuild.
  await eventually(
    async () => p.ledgerRows('aggregate_id = $1 AND status <> $2', [hot, 'delivered']),
    (pending) => pending.length === 0,
    120_000,
  );
  const rows = await p.ledgerRows('aggregate_id = $1', [hot]);
  expect(rows.map((r) => r.aggregate_version).sort((a, b) => a - b)).toEqual(events.map((e) => e.aggregate_version));
  const report = await checkInvariants({ infra: p.api.infra, prefix: p.prefix, client: p.client, taskQueue: p.taskQueue, rebuild: true });
  expect(problems(report)).toEqual({});
  // The read model holds what the command stored last wrote.
  const lastCommand = results.find((r) => r.result.version === stored[stored.length - 1].aggregate_version)!;
  const read = await eventually(
    async () => send('GET', `/databases/${db}/classes/Item/instances/hot`),
    (g) => g.body?.version === events.length,
    60_000,
  );
  expect(read.body.properties).toEqual({ n: sentN.get(lastCommand.command_id) });
}, 600_000);

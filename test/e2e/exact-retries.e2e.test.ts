/**
 * Retries that remember exactly: whether a command already appended is answered by the event
 * store (a marker keyed by the command id), not by a cache of recent command ids, and an
 * Idempotency-Key keeps its meaning after Temporal has forgotten the first workflow.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { eventIdFor } from '../../src/contracts/event-envelope';
import { commandIdForKey } from '../../src/app/command-gateway';
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually, scaled, testConfig, uniqueName } from '../support/env';
import { commandFinished, sendJson, seedDatabase } from '../support/http';

let p: Pipeline;
const db = 'retries';
/** Command ids whose ledger insert fails while they are listed here (the event is in S3 by then). */
const ledgerDownFor = new Set<string>();

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, path, body, headers);

const statusOf = (commandId: string) => send('GET', `/commands/${commandId}`).then((r) => r.body);
const finished = (commandId: string) => commandFinished(p.url, commandId);

/** Later updates on the stream: more than the 200 command ids the removed per-stream cache held, in the full run. */
const LATER = scaled(25, 250);
const LAST = LATER + 2;

const stream = (id: string) => ({ aggregate_type: 'instance', aggregate_id: `${db}:${id}` });

beforeAll(async () => {
  p = await startPipeline('e2e-retries', testConfig, {
    wrapDeps: (deps) => ({
      ...deps,
      ledger: {
        record: async (rows) => {
          if (rows.some((r) => ledgerDownFor.has(r.envelope.command_id))) throw new Error('ledger unavailable (test)');
          return deps.ledger.record(rows);
        },
      },
    }),
  });
  await seedDatabase(p.url, db, { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] });
});
afterAll(async () => {
  await p?.close();
});

test(`a command whose ledger insert failed after its append completes with its original version and events after ${LATER} later updates`, async () => {
  expect((await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'hot', properties: { n: 0 } }, { prefer: 'wait=30' })).status).toBe(201);
  const key = uniqueName('command-a');
  const a = commandIdForKey(key);
  const eventA = eventIdFor(a, 0);
  const updates: string[] = [];
  ledgerDownFor.add(a);
  try {
    const accepted = await send('PUT', `/databases/${db}/classes/Item/instances/hot`, { properties: { n: -1 } }, { 'idempotency-key': key });
    expect(accepted.status).toBe(202);
    // A's event is in S3 at version 2, its ledger row is not: the command retries.
    const stored = await eventually(
      () => p.api.infra.s3Store.readStream(stream('hot')),
      (events) => events.length === 2,
      30_000,
    );
    expect(stored[1].envelope.event_id).toBe(eventA);
    await eventually(
      () => statusOf(a),
      (s) => s.status === 'RETRYING',
      30_000,
    );

    // The updates land in S3 after A (their delivery waits for A's ledger row, as stream order wants).
    for (let i = 1; i <= LATER; i++) {
      const r = await send('PUT', `/databases/${db}/classes/Item/instances/hot`, { properties: { n: i } });
      expect(r.status).toBe(202);
      updates.push(r.body.command_id);
      if (i % 25 === 0 || i === LATER)
        await eventually(
          () => p.api.infra.s3Store.currentVersion(stream('hot')),
          (v) => v === i + 2,
          60_000,
        );
    }
  } finally {
    ledgerDownFor.delete(a);
  }

  const done = await finished(a);
  expect(done.status).toBe('COMPLETED');
  expect(done.result.version).toBe(2);
  expect(done.result.events.map((e: { event_id: string; version: number }) => [e.event_id, e.version])).toEqual([[eventA, 2]]);
  const others = await Promise.all(updates.map((u) => finished(u)));
  expect(others.map((o) => o.status)).toEqual(Array(LATER).fill('COMPLETED'));
  expect(others.map((o) => o.result.version).sort((x, y) => x - y)).toEqual(Array.from({ length: LATER }, (_, i) => i + 3));

  // S3: versions 1..LAST, A's event once, at version 2.
  const events = await p.api.infra.s3Store.readStream(stream('hot'));
  expect(events.map((e) => e.envelope.aggregate_version)).toEqual(Array.from({ length: LAST }, (_, i) => i + 1));
  expect(new Set(events.map((e) => e.envelope.event_id)).size).toBe(LAST);
  expect(events.filter((e) => e.envelope.event_id === eventA).map((e) => e.envelope.aggregate_version)).toEqual([2]);
  // Ledger: one row per version, A's at version 2, everything delivered.
  const rows = await eventually(
    () => p.ledgerRows('aggregate_id = $1', [`${db}:hot`]),
    (r) => r.length === LAST && r.every((x) => x.status === 'delivered'),
    60_000,
  );
  expect(rows.map((r) => r.aggregate_version).sort((x, y) => x - y)).toEqual(Array.from({ length: LAST }, (_, i) => i + 1));
  expect(rows.filter((r) => r.event_id === eventA).map((r) => r.aggregate_version)).toEqual([2]);
  // Kafka: A's event only ever at version 2.
  await eventually(
    async () => new Set(p.messagesFor(`${db}:hot`).map((m) => m.headers['event-id'])).size,
    (n) => n === LAST,
    60_000,
  );
  expect(
    new Set(
      p
        .messagesFor(`${db}:hot`)
        .filter((m) => m.headers['event-id'] === eventA)
        .map((m) => m.headers['aggregate-version']),
    ),
  ).toEqual(new Set(['2']));
  // Read model: the state of the last version.
  const read = await eventually(
    () => send('GET', `/databases/${db}/instances/hot`),
    (r) => r.body?.version === LAST,
    30_000,
  );
  expect(read.body.properties).toEqual((events[LAST - 1].envelope.payload as { instance: { properties: unknown } }).instance.properties);
}, 900_000);

/** What retention does to a closed workflow, done by hand with the temporal CLI (deletion is asynchronous: repeated until gone). */
async function forgetWorkflow(commandId: string): Promise<void> {
  const cli = path.join(process.env.SPICE_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'spice-oms'), 'bin', 'temporal-v1.5.1', 'temporal');
  const workflowId = `command-${commandId}`;
  const state = () =>
    p.client.workflow
      .getHandle(workflowId)
      .describe()
      .then(
        () => 'present',
        (e) => (e instanceof WorkflowNotFoundError || /not found/i.test(String(e?.message)) ? 'gone' : `error ${e?.name}: ${e?.message}`),
      );
  await eventually(
    async () => {
      if ((await state()) === 'gone') return 'gone';
      await promisify(execFile)(cli, ['workflow', 'delete', '-w', workflowId, '--address', testConfig.temporalAddress, '--namespace', testConfig.TEMPORAL_NAMESPACE]).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1000));
      return state();
    },
    (s) => s === 'gone',
    90_000,
    500,
  );
}

test('after retention an Idempotency-Key replays its stored command, and is refused with another body before anything is stored', async () => {
  const key = uniqueName('kept');
  const id = commandIdForKey(key);
  const first = await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'kept', properties: { n: 1 } }, { 'idempotency-key': key, prefer: 'wait=30' });
  expect(first.status).toBe(201);
  expect(first.body.result.events.map((e: { event_id: string }) => e.event_id)).toEqual([eventIdFor(id, 0)]);

  await forgetWorkflow(id);
  // The same request again: a new run finds the stored command and answers with it; nothing new is stored.
  const again = await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'kept', properties: { n: 1 } }, { 'idempotency-key': key, prefer: 'wait=30' });
  expect(again.body.status).toBe('COMPLETED');
  expect(again.body.result.version).toBe(1);
  expect(again.body.result.events).toEqual(first.body.result.events);

  await forgetWorkflow(id);
  // The same key with another body would reuse the first command's event id on another stream: refused.
  const other = await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'other', properties: { n: 2 } }, { 'idempotency-key': key, prefer: 'wait=30' });
  expect(other.status).toBe(422);
  expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');

  expect(await p.api.infra.s3Store.readStream(stream('other'))).toEqual([]);
  expect((await p.api.infra.s3Store.readStream(stream('kept'))).map((e) => e.envelope.event_id)).toEqual([eventIdFor(id, 0)]);
  expect(await p.ledgerRows('aggregate_id = $1', [`${db}:other`])).toEqual([]);
  expect((await p.ledgerRows('event_id = $1', [eventIdFor(id, 0)])).map((r) => r.aggregate_id)).toEqual([`${db}:kept`]);
  expect((await send('GET', `/databases/${db}/instances/other`)).status).toBe(404);
  await new Promise((r) => setTimeout(r, 1000));
  expect(p.messages.filter((m) => m.headers['event-id'] === eventIdFor(id, 0)).map((m) => m.key)).toEqual(expect.arrayContaining([`${db}:kept`]));
  expect(p.messages.some((m) => m.key === `${db}:other`)).toBe(false);
}, 300_000);

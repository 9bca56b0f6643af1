/**
 * Group commit on one hot stream, through the real pipeline (issue 18 item 5): the commands that
 * wait for the stream while an append is in flight are decided one after another and appended
 * together, yet each keeps its own workflow, event, version, Kafka message and result, and a
 * command refused inside a group fails alone.
 */
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually, testConfig } from '../support/env';
import { sendJson, seedDatabase } from '../support/http';
import { spiceMetrics } from '../../src/contracts/metrics';

let p: Pipeline;
const db = 'groupdb';
const WRITERS = 16;

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, path, body, headers);

beforeAll(async () => {
  p = await startPipeline('e2e-group-commit', testConfig);
  await seedDatabase(p.url, db, { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] });
});
afterAll(async () => {
  await p?.close();
});

async function commitCounts(): Promise<{ commits: number; commands: number }> {
  const metric = await spiceMetrics().streamCommitCommands.get();
  const value = (suffix: string) => metric.values.find((v) => v.metricName === `spice_stream_commit_commands${suffix}`)?.value ?? 0;
  return { commits: value('_count'), commands: value('_sum') };
}

test(`${WRITERS} concurrent updates of one instance: one event each, versions without a gap, fewer commits than commands`, async () => {
  expect((await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'hot', properties: { n: 0 } }, { prefer: 'wait=30' })).status).toBe(201);
  const before = await commitCounts();
  // Two of them are refused by decide (the class says n is an integer): inside a group, alone.
  const refused = new Set([5, 11]);
  const accepted = await Promise.all(
    Array.from({ length: WRITERS }, (_, i) => send('PUT', `/databases/${db}/classes/Item/instances/hot`, { properties: { n: refused.has(i) ? `not a number ${i}` : i + 1 } })),
  );
  expect(accepted.map((r) => r.status)).toEqual(Array(WRITERS).fill(202));
  const results = await Promise.all(
    accepted.map((a) =>
      eventually(
        async () => send('GET', `/commands/${a.body.command_id}`),
        (s) => s.body.status === 'COMPLETED' || s.body.status === 'FAILED',
        120_000,
        100,
      ),
    ),
  );
  expect(results.map((r) => r.body.status)).toEqual(Array.from({ length: WRITERS }, (_, i) => (refused.has(i) ? 'FAILED' : 'COMPLETED')));
  const completed = results.filter((r) => r.body.status === 'COMPLETED');
  const n = completed.length;

  // Each command its own event and version: 2..n+1 after the creation.
  const eventIds = completed.map((r) => r.body.result.events[0].event_id);
  expect(new Set(eventIds).size).toBe(n);
  expect(completed.map((r) => r.body.result.events.length)).toEqual(Array(n).fill(1));
  expect(completed.map((r) => r.body.result.version).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 2));

  // S3: versions 1..n+1, no gap; each index object holds its command's event.
  const keys = (await p.s3Keys('indexes/by-aggregate/instance/')).filter((k) => k.includes('hot'));
  expect(keys.map((k) => Number(k.slice(k.lastIndexOf('/') + 1, -'.json'.length))).sort((a, b) => a - b)).toEqual(Array.from({ length: n + 1 }, (_, i) => i + 1));
  // Ledger: one row per version, all delivered; the group shares its transaction.
  const rows = await p.ledgerRows('aggregate_id = $1', [`${db}:hot`]);
  expect(rows.map((r) => r.aggregate_version)).toEqual(Array.from({ length: n + 1 }, (_, i) => i + 1));
  const updates = rows.filter((r) => r.aggregate_version > 1);
  expect(updates.map((r) => r.event_id).sort()).toEqual([...eventIds].sort());
  expect(new Set(updates.map((r) => r.transaction_id)).size).toBeLessThan(n);
  // The worker counted the same: fewer commits than commands.
  const after = await commitCounts();
  expect(after.commands - before.commands).toBe(n);
  expect(after.commits - before.commits).toBeLessThan(n);

  // Kafka: every event once at least, in version order (first occurrence of each id).
  await eventually(
    async () => new Set(p.messagesFor(`${db}:hot`).map((m) => m.headers['event-id'])).size,
    (count) => count === n + 1,
    60_000,
  );
  const order = p.versionsDelivered(`${db}:hot`);
  expect(order).toEqual(Array.from({ length: n + 1 }, (_, i) => i + 1));
  await eventually(
    async () => p.ledgerRows('aggregate_id = $1 AND status <> $2', [`${db}:hot`, 'delivered']),
    (pending) => pending.length === 0,
    30_000,
  );

  // Each command's own result names its own event at its own version; the read model ends at the last one.
  for (const r of completed) {
    const row = rows.find((x) => x.event_id === r.body.result.events[0].event_id);
    expect(row.aggregate_version).toBe(r.body.result.version);
    expect(row.command_id).toBe(r.body.command_id);
  }
  const read = await eventually(
    async () => send('GET', `/databases/${db}/instances/hot`),
    (g) => g.body.version === n + 1,
    30_000,
  );
  const last = completed.find((r) => r.body.result.version === n + 1)!;
  expect(read.body.properties).toEqual({ n: results.indexOf(last) + 1 });
}, 240_000);

/**
 * The migration drill (issue 10, item 9) on the real services, under a steady load of commands:
 * legacy -> dual_write -> backfill -> verify -> s3_only -> reverse sync -> legacy -> s3_only
 * (forced: no backfill), then a backfill and a verify. At the end: every accepted command
 * completed (none failed because of a switch), its events are in S3 (the final mode's store) and
 * in the ledger, verify reports 0 differences, Kafka carried every event once per event id in
 * stream order, and the same API and worker processes served it all (no restart).
 *
 * DRILL_SECONDS_PER_STEP (default 3) sets how long the load runs between steps; DRILL_LOADERS
 * (default 3) how many clients send commands at once. The long drill: DRILL_SECONDS_PER_STEP=30
 * DRILL_LOADERS=8 with --testTimeout=1800000 (figures in BENCHMARKS.md).
 */
import { loadConfig } from '../../src/app/config';
import type { StorageMode } from '../../src/contracts/storage-mode';
import { MigrationOps } from '../../src/app/migration-ops';
import { startPipeline, Pipeline } from '../support/pipeline';
import { sendJson, seedDatabase } from '../support/http';
import { eventually, TEST_LIMITS } from '../support/env';

const SECONDS_PER_STEP = Number(process.env.DRILL_SECONDS_PER_STEP ?? 3);
const LOADERS = Number(process.env.DRILL_LOADERS ?? 3);
const REFRESH_MS = 250;

jest.setTimeout(600_000);

let p: Pipeline;
let ops: MigrationOps;
const db = 'drill';

beforeAll(async () => {
  p = await startPipeline('drill', loadConfig({ ...TEST_LIMITS, ...process.env, ENABLE_S3_EVENT_STORE: 'false', STORAGE_MODE_REFRESH_MS: String(REFRESH_MS) }));
  ops = new MigrationOps({ modes: p.api.infra.modes, client: p.client, taskQueue: p.taskQueue, propagationMs: 2 * REFRESH_MS });
  await seedDatabase(p.url, db, { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer' }], relationships: [] });
});

afterAll(async () => {
  await p?.close();
});

interface Sent {
  id: string;
  status: number;
  command_id?: string;
  state?: string;
  code?: string;
  mode?: StorageMode;
}

/** Clients that create an instance and update it, again and again, until stopped. */
function startLoad(loaders: number) {
  const sent: Sent[] = [];
  let stop = false;
  const one = async (loader: number) => {
    for (let k = 0; !stop; k++) {
      const id = `l${loader}-${k}`;
      const wait = { prefer: 'wait=60' };
      const created = await sendJson(p.url, 'POST', `/databases/${db}/classes/Item/instances`, { id, properties: { n: 0 } }, wait);
      sent.push({ id, status: created.status, command_id: created.body?.command_id, state: created.body?.status, code: created.body?.code });
      for (let u = 1; u <= 2 && !stop; u++) {
        const updated = await sendJson(p.url, 'PUT', `/databases/${db}/classes/Item/instances/${id}`, { properties: { n: u } }, wait);
        sent.push({ id, status: updated.status, command_id: updated.body?.command_id, state: updated.body?.status, code: updated.body?.code });
      }
    }
  };
  const running = Promise.all(Array.from({ length: loaders }, (_, i) => one(i)));
  return {
    sent,
    async stop() {
      stop = true;
      await running;
    },
  };
}

const steady = () => new Promise((r) => setTimeout(r, SECONDS_PER_STEP * 1000));

async function switchTo(to: StorageMode, force = false) {
  const outcome = await ops.setMode({ to, actor: 'drill', reason: `drill: to ${to}`, force });
  expect(outcome.outcome).toBe(force ? 'forced' : 'switched');
  // Let the switch take effect for new commands, then run in the new mode for a while.
  await new Promise((r) => setTimeout(r, 2 * REFRESH_MS + 50));
}

async function runToEnd(kind: 'backfill' | 'verify' | 'reverse_sync', o: { target?: 's3' | 'legacy' | 'both' } = {}) {
  await ops.start(kind, o);
  return ops.result(kind);
}

test('legacy -> dual_write -> backfill -> verify -> s3_only -> reverse sync -> legacy -> s3_only, under load', async () => {
  const started = Date.now();
  const figures: Record<string, number> = {};
  const load = startLoad(LOADERS);
  try {
    await steady();

    await switchTo('dual_write');
    await steady();
    const backfill = await runToEnd('backfill');
    figures.backfill_events = backfill.copied;
    figures.backfill_s = backfill.elapsed_s;
    const verify1 = await runToEnd('verify', { target: 's3' });
    expect(verify1.differences ?? {}).toEqual({});
    figures.verify_versions = verify1.processed;
    figures.verify_s = verify1.elapsed_s;
    await steady();

    await switchTo('s3_only'); // preconditions hold: a clean backfill and a verify after it
    await steady();
    const reverse = await runToEnd('reverse_sync');
    figures.reverse_sync_rows = reverse.processed;
    await switchTo('legacy'); // precondition: the reverse sync since s3_only took over
    await steady();
    // Straight to s3_only without a backfill: refused, then forced (audited).
    await expect(ops.setMode({ to: 's3_only', actor: 'drill', reason: 'drill: no backfill' })).rejects.toMatchObject({ code: 'STORAGE_MODE_PRECONDITION_FAILED' });
    await switchTo('s3_only', true);
    await steady();
  } finally {
    await load.stop();
  }

  // No command of an earlier mode is running any more: the backfill clears the legacy table's lead.
  const finalBackfill = await runToEnd('backfill');
  const finalVerify = await runToEnd('verify', { target: 's3' });
  expect(finalVerify.differences ?? {}).toEqual({});
  const state = (await ops.getMode()).state;
  expect(state).toMatchObject({ mode: 's3_only', legacy_may_lead: false });
  figures.final_backfill_events = finalBackfill.copied;

  // Every accepted command completed: none failed because of a switch.
  const accepted = load.sent.filter((s) => s.command_id);
  expect(load.sent.filter((s) => ![200, 201].includes(s.status))).toEqual([]);
  figures.commands = accepted.length;

  // Each command's events: in S3 and the ledger (the final mode's stores), once.
  const ledger = await p.ledgerRows(`event_type <> 'INSTANCE_CLAIM'`);
  const ids = new Set(ledger.map((r) => r.event_id));
  expect(ids.size).toBe(ledger.length);
  const byStream = new Map<string, any[]>();
  for (const r of ledger) byStream.set(`${r.aggregate_type}\u0000${r.aggregate_id}`, [...(byStream.get(`${r.aggregate_type}\u0000${r.aggregate_id}`) ?? []), r]);
  for (const rows of byStream.values()) {
    const stream = { aggregate_type: rows[0].aggregate_type, aggregate_id: rows[0].aggregate_id };
    const inS3 = (await p.api.infra.s3Store.readStream(stream)).map((e) => e.envelope.event_id);
    expect(inS3).toEqual(expect.arrayContaining(rows.map((r) => r.event_id)));
  }
  const modes = new Set(ledger.map((r) => r.storage_mode));
  expect([...modes].sort()).toEqual(['dual_write', 'legacy', 's3_only']);

  // Kafka: every event once per event id (after dedupe), in stream order per aggregate.
  await eventually(
    async () => new Set(p.messages.map((m) => m.headers['event-id'])).size,
    (n) => n >= ledger.length,
    60_000,
  );
  const seen = new Map<string, number>();
  const order = new Map<string, number>();
  for (const m of p.messages) {
    const id = m.headers['event-id'];
    if (seen.has(id)) continue;
    seen.set(id, 1);
    const v = Number(m.headers['aggregate-version']);
    const last = order.get(m.key) ?? 0;
    expect(v).toBeGreaterThan(last);
    order.set(m.key, v);
  }
  expect(new Set(ledger.map((r) => r.event_id))).toEqual(new Set([...seen.keys()].filter((id) => ids.has(id))));

  // Same processes throughout: the worker that started is still the one running.
  expect(p.worker.getState()).toBe('RUNNING');
  figures.total_s = (Date.now() - started) / 1000;
  // The audit log holds every switch request, the refused one too.
  const audit = (await ops.getMode()).audit.map((a) => `${a.from_mode}->${a.to_mode}:${a.outcome}`).reverse();
  expect(audit).toEqual(['legacy->dual_write:switched', 'dual_write->s3_only:switched', 's3_only->legacy:switched', 'legacy->s3_only:refused', 'legacy->s3_only:forced']);
  process.stdout.write(`drill figures: ${JSON.stringify(figures)}\n`);
});

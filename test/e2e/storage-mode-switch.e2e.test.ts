/**
 * A live switch through the admin endpoint, on the real stack: refused switches are 409 problem+json
 * and audited, a granted one reaches new commands exactly at its effective_at (the propagation
 * bound: 2 x STORAGE_MODE_REFRESH_MS after the switch), with no restart. Each command's mode is
 * read back from what it stored (ledger row and event metadata), not from the answer.
 */
import { loadConfig } from '../../src/app/config';
import { startPipeline, Pipeline } from '../support/pipeline';
import { bearer, sendJson } from '../support/http';
import { eventually } from '../support/env';

const REFRESH_MS = 300;
let p: Pipeline;

beforeAll(async () => {
  p = await startPipeline('modeswitch', loadConfig({ ...process.env, ENABLE_S3_EVENT_STORE: 'false', STORAGE_MODE_REFRESH_MS: String(REFRESH_MS) }));
}, 120_000);

afterAll(async () => {
  await p?.close();
});

test('switches are audited, refused ones answered 409 with what is missing, granted ones reach new commands within the bound', async () => {
  const admin = bearer(p.keys.admin);
  // A writer's key may not switch: 403 before anything is audited.
  const writer = await sendJson(p.url, 'PUT', '/admin/storage-mode', { mode: 'dual_write', reason: 'not mine' });
  expect(writer.status).toBe(403);

  const bad = await sendJson(p.url, 'PUT', '/admin/storage-mode', { mode: 'sideways', reason: 'x' }, admin);
  expect({ status: bad.status, code: bad.body.code }).toEqual({ status: 422, code: 'VALIDATION_FAILED' });
  expect(bad.headers.get('content-type')).toMatch(/problem\+json/);

  const refused = await sendJson(p.url, 'PUT', '/admin/storage-mode', { mode: 's3_only', reason: 'too early' }, admin);
  expect(refused.status).toBe(409);
  expect(refused.body.code).toBe('STORAGE_MODE_PRECONDITION_FAILED');
  expect(refused.body.errors.length).toBeGreaterThan(0);
  expect((await sendJson(p.url, 'GET', '/admin/storage-mode', undefined, admin)).body.state.mode).toBe('legacy');

  // Commands sent every 50 ms from just before the switch until well after its effective_at.
  // `at` when the request left, `answered` when its answer came: the API reads the mode in between.
  const sent: { at: number; answered: number; command_id: string }[] = [];
  let stop = false;
  const sender = (async () => {
    for (let i = 0; !stop; i++) {
      const at = Date.now();
      const r = await sendJson(p.url, 'POST', '/databases', { name: `sw${i}` });
      expect(r.status).toBe(202);
      sent.push({ at, answered: Date.now(), command_id: r.body.command_id });
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  await eventually(
    async () => sent.length,
    (n) => n >= 3,
    60_000,
  );
  const switched = await sendJson(p.url, 'PUT', '/admin/storage-mode', { mode: 'dual_write', reason: 'e2e switch' }, admin);
  expect(switched.status).toBe(200);
  expect(switched.body).toMatchObject({ outcome: 'switched', state: { mode: 'dual_write', previous_mode: 'legacy' } });
  const changedAt = Date.parse(switched.body.state.changed_at);
  const effectiveAt = Date.parse(switched.body.state.effective_at);
  expect(effectiveAt - changedAt).toBe(2 * REFRESH_MS);
  const slack = 100;
  // However slow the machine, a few commands go out well after effective_at.
  await eventually(
    async () => sent.filter((x) => x.at > effectiveAt + slack).length,
    (n) => n >= 3,
    60_000,
  );
  stop = true;
  await sender;

  // Each command's mode, from the ledger row its event got (every command here stores one event).
  await new Promise((r) => setTimeout(r, 3000));
  const rows = await p.ledgerRows('command_id = ANY($1::text[])', [sent.map((s) => s.command_id)]);
  const modeOf = new Map(rows.map((r) => [r.command_id, r.storage_mode]));
  expect(modeOf.size).toBe(sent.length);
  // This process's clock and PostgreSQL's agree on the test machine to well under the slack.
  // A request answered before effective_at ran in the old mode; one sent after it, in the new one. A
  // request in flight across effective_at may meet either (CI saw one sent 100 ms before it reach the API after).
  for (const s of sent) {
    if (s.answered < effectiveAt - slack) expect([s.command_id, modeOf.get(s.command_id)]).toEqual([s.command_id, 'legacy']);
    if (s.at > effectiveAt + slack) expect([s.command_id, modeOf.get(s.command_id)]).toEqual([s.command_id, 'dual_write']);
  }
  expect(sent.filter((s) => s.answered < effectiveAt - slack).length).toBeGreaterThanOrEqual(3);

  const audit = (await sendJson(p.url, 'GET', '/admin/storage-mode', undefined, admin)).body.audit;
  // The actor is the admin key's identity; the writer's 403 left no row.
  const actor = `key:${p.taskQueue}-admin`; // the pipeline names its keys after its id, which is its task queue
  expect(audit).toHaveLength(2);
  expect(audit).toMatchObject([
    { actor, from_mode: 'legacy', to_mode: 'dual_write', outcome: 'switched', reason: 'e2e switch' },
    { actor, from_mode: 'legacy', to_mode: 's3_only', outcome: 'refused', reason: 'too early' },
  ]);
}, 120_000);

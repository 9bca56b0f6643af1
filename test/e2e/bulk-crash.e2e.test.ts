/**
 * A bulk command whose prepareBulk attempt dies after its claims: the retry decides again, and
 * whatever it decides, its claims follow that decision (no instance left created by a bulk that
 * ended FAILED, no plan appended for a bulk whose claims were voided).
 */
import { commandIdForKey } from '../../src/app/command-gateway';
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually, uniqueName } from '../support/env';
import { commandFinished, sendJson, seedDatabase } from '../support/http';

let p: Pipeline;
const db = 'bulkcrash';
/** Command ids whose bulk plan cannot be written while listed (the attempt dies there). */
const planDownFor = new Set<string>();

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, path, body, headers);
const statusOf = (commandId: string) => send('GET', `/commands/${commandId}`).then((r) => r.body);
const cls = { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] };

beforeAll(async () => {
  p = await startPipeline('e2e-bulkcrash', undefined, {
    wrapDeps: (deps) => ({
      ...deps,
      blobs: Object.assign(Object.create(deps.blobs) as typeof deps.blobs, {
        putJson: async (ref: { key: string }, body: unknown) => {
          if ([...planDownFor].some((id) => deps.blobs.planOf(id).key === ref.key)) throw new Error('plan store unavailable (test)');
          return deps.blobs.putJson(ref as never, body);
        },
      }),
    }),
  });
  await seedDatabase(p.url, db, cls);
});
afterAll(async () => {
  await p?.close();
});

test('a bulk that dies after its claims and is refused on retry (its class deleted meanwhile) leaves no instance created: the ids can be created again', async () => {
  const key = uniqueName('bulk');
  const a = commandIdForKey(key);
  planDownFor.add(a);
  try {
    const accepted = await send(
      'POST',
      `/databases/${db}/classes/Item/instances:bulk`,
      {
        instances: [
          { id: 'g1', properties: { n: 1 } },
          { id: 'g2', properties: { n: 2 } },
        ],
      },
      { 'idempotency-key': key },
    );
    expect(accepted.status).toBe(202);
    expect(accepted.body.command_id).toBe(a);
    await eventually(
      () => statusOf(a),
      (s) => s.status === 'RETRYING',
      60_000,
    );
    // The claims are in S3 by now.
    const claimed = await p.api.infra.s3Store.readStream({ aggregate_type: 'instance', aggregate_id: `${db}:g1` });
    expect(claimed.map((e) => e.envelope.metadata.claimed_by)).toEqual([a]);
    expect((await send('DELETE', `/databases/${db}/classes/Item`, undefined, { prefer: 'wait=30' })).status).toBe(200);
  } finally {
    planDownFor.delete(a);
  }
  const done = await commandFinished(p.url, a);
  expect(done.status).toBe('FAILED');

  // Nothing of the bulk stands: its claims are voided, the ids are free.
  const g1 = await p.api.infra.s3Store.readStream({ aggregate_type: 'instance', aggregate_id: `${db}:g1` });
  expect(g1.map((e) => e.envelope.event_type)).toEqual(['CLAIM_VOIDED']);
  expect((await send('POST', `/databases/${db}/classes`, cls, { prefer: 'wait=30' })).status).toBe(201);
  const again = await send('POST', `/databases/${db}/classes/Item/instances`, { id: 'g1', properties: { n: 10 } }, { prefer: 'wait=30' });
  expect(again.status).toBe(201);
  expect(again.body.result.version).toBe(2);
  expect((await send('GET', `/databases/${db}/instances/g1`)).body.properties).toEqual({ n: 10 });
  const rows = await p.ledgerRows(`aggregate_id = $1`, [`${db}:g1`]);
  expect(rows.map((r) => [r.aggregate_version, r.event_type]).sort()).toEqual([
    [1, 'INSTANCE_CLAIM'],
    [2, 'INSTANCE_CREATED'],
  ]);
}, 240_000);

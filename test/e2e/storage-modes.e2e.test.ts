/**
 * The storage modes of the migration, end to end: legacy (PostgreSQL event table only),
 * dual_write (S3 decides, PostgreSQL holds a copy at the same versions) and s3_only.
 */
import { loadConfig } from '../../src/app/config';
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually } from '../support/env';

async function run(p: Pipeline, db: string) {
  const send = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${p.url}${path}`, { method, headers: { 'content-type': 'application/json', prefer: 'wait=30', ...p.auth }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  expect((await send('POST', '/databases', { name: db })).status).toBe(201);
  expect((await send('POST', `/databases/${db}/classes`, { id: 'C', label: 'C', properties: [{ name: 'v', type: 'integer' }], relationships: [] })).status).toBe(201);
  expect((await send('POST', `/databases/${db}/classes/C/instances`, { id: 'i1', properties: { v: 1 } })).status).toBe(201);
  const upd = await send('PUT', `/databases/${db}/classes/C/instances/i1`, { properties: { v: 2 } });
  expect(upd.status).toBe(200);
  expect(upd.body.result.version).toBe(2);
  const legacy = await p.api.infra.pool.query(`SELECT event_id, aggregate_version FROM ${p.api.infra.schema}.legacy_events WHERE aggregate_id = $1 ORDER BY aggregate_version`, [`${db}:i1`]);
  const s3 = (await p.s3Keys('indexes/by-aggregate/instance/')).filter((k) => k.includes('i1'));
  const ledger = await p.ledgerRows('aggregate_id = $1', [`${db}:i1`]);
  await eventually(
    async () => p.messagesFor(`${db}:i1`).length,
    (n) => n >= 2,
  );
  const read = await send('GET', `/databases/${db}/instances/i1`);
  return { legacy: legacy.rows, s3, ledger, messages: p.messagesFor(`${db}:i1`), read: read.body };
}

describe.each([
  ['legacy', { ENABLE_S3_EVENT_STORE: 'false' }],
  ['dual_write', { ENABLE_S3_EVENT_STORE: 'true', ENABLE_DUAL_WRITE: 'true' }],
])('%s mode', (mode, flags) => {
  let p: Pipeline;
  beforeAll(async () => {
    p = await startPipeline(`e2e-${mode.replace('_', '')}`, loadConfig({ ...process.env, ...flags }));
  });
  afterAll(async () => {
    await p?.close();
  });

  test('commands complete; events land where the mode says, with the mode in their metadata', async () => {
    const r = await run(p, `m${mode.replace('_', '')}`);
    expect(r.read).toMatchObject({ id: 'i1', version: 2, properties: { v: 2 } });
    expect(r.ledger.map((l) => [l.aggregate_version, l.status, l.storage_mode])).toEqual([
      [1, 'delivered', mode],
      [2, 'delivered', mode],
    ]);
    expect(r.legacy.map((l) => l.aggregate_version)).toEqual([1, 2]);
    expect(r.legacy.map((l) => l.event_id)).toEqual(r.ledger.map((l) => l.event_id));
    expect(r.messages.map((m) => m.value.metadata.storage_mode)).toEqual([mode, mode]);
    if (mode === 'legacy') {
      expect(r.s3).toEqual([]);
      expect(r.ledger.every((l) => l.s3_reference === null)).toBe(true);
    } else {
      expect(r.s3).toHaveLength(2);
      expect(r.messages.every((m) => m.value.s3_reference?.key)).toBe(true);
    }
  });

  test('a version beyond the integer columns is a 4xx, never a failed query or a stored event', async () => {
    const db = `m${mode.replace('_', '')}`;
    const ledgerBefore = (await p.ledgerRows()).length;
    const get = async (path: string) => {
      const res = await fetch(`${p.url}${path}`, { headers: p.auth });
      return { status: res.status, code: ((await res.json()) as any).code };
    };
    expect(await get(`/databases/${db}/instances/i1/at/2147483648`)).toEqual({ status: 400, code: 'INVALID_ID' });
    expect(await get(`/databases/${db}/instances/i1/at/9999999999`)).toEqual({ status: 400, code: 'INVALID_ID' });
    expect(await get(`/databases/${db}/instances/i1/at/2147483647`)).toEqual({ status: 404, code: 'VERSION_NOT_FOUND' });
    const put = await fetch(`${p.url}/databases/${db}/classes/C/instances/i1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', prefer: 'wait=30', 'if-match': '2147483648', ...p.auth },
      body: JSON.stringify({ properties: { v: 3 } }),
    });
    expect({ status: put.status, code: ((await put.json()) as any).code }).toEqual({ status: 400, code: 'INVALID_HEADER' });
    expect((await p.ledgerRows()).length).toBe(ledgerBefore);
  });
});

/**
 * Issue 18 item 2: aggregate state snapshots in S3 are a cache. A cold load starts from the newest
 * usable snapshot and reads only the events after it; time travel starts from the nearest one at
 * or below the version. Deleting every snapshot, or spoiling them (unreadable, of another state
 * version), changes no answer: not the decision of a cold worker, not a GET, not a time travel.
 */
import { DeleteObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { createS3Client } from '../../src/adapters/s3/s3-client';
import { encodeSegment } from '../../src/adapters/s3/s3-keys';
import { createActivities } from '../../src/activities';
import type { EventEnvelope } from '../../src/contracts/event-envelope';
import type { EventStore, ReadStreamOptions, StreamId } from '../../src/ports/event-store';
import { STATE_VERSION } from '../../src/domain';
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually, testConfig } from '../support/env';
import { sendJson } from '../support/http';

const EVERY = 3;
const db = 'snaps';
const aggregateId = `${db}:x`;
let p: Pipeline;
// The application's S3 user may not delete (least privilege): an operator clears the cache.
const operatorS3 = createS3Client({ ...testConfig, S3_ACCESS_KEY: testConfig.MINIO_ROOT_USER, S3_SECRET_KEY: testConfig.MINIO_ROOT_PASSWORD });

beforeAll(async () => {
  p = await startPipeline('e2e-snapshots', { ...testConfig, SNAPSHOT_EVERY: EVERY });
});
afterAll(async () => {
  operatorS3.destroy();
  await p?.close();
});

const send = (method: string, path: string, body?: unknown) => sendJson(p.url, method, path, body, { prefer: 'wait=30' });
const snapshotDir = () => `snapshots/instance/${encodeSegment(aggregateId)}/`;
const snapshotKeys = async () => (await p.s3Keys(snapshotDir())).sort();
const snapshotKey = (v: number) => `${p.prefix}${snapshotDir()}${String(v).padStart(20, '0')}.json`;
const put = (key: string, body: string) => operatorS3.send(new PutObjectCommand({ Bucket: testConfig.S3_BUCKET, Key: key, Body: body }));

/**
 * A cold worker's decision on a partial update (its event carries the whole instance: the state it
 * was decided on), with what it read of the instance stream. Nothing is stored: the probe refuses the append.
 */
async function coldDecision(): Promise<{ event: EventEnvelope; readFrom: (number | undefined)[] }> {
  const deps = p.api.infra.activityDeps();
  const mode = p.api.infra.config.storageMode;
  const readFrom: (number | undefined)[] = [];
  let decided: EventEnvelope[] = [];
  const store = deps.eventStores[mode];
  const probe = new Proxy(store, {
    get(target, key) {
      if (key === 'append')
        return async (_s: StreamId, _e: unknown, events: EventEnvelope[]) => {
          decided = events;
          throw new Error('probe: not stored');
        };
      if (key === 'readStream')
        return (s: StreamId, o?: ReadStreamOptions) => {
          if (s.aggregate_id === aggregateId) readFrom.push(o?.fromVersion);
          return target.readStream(s, o);
        };
      const v = Reflect.get(target, key);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as EventStore;
  const activities = createActivities({ ...deps, eventStores: { ...deps.eventStores, [mode]: probe } });
  const command = { command_type: 'UPDATE_INSTANCE', db_name: db, payload: { id: 'x', properties: { p9: 9 } } };
  await expect(
    activities.decideAndAppend({ command_id: randomUUID(), command_type: 'UPDATE_INSTANCE', command: command as never, actor: 'test', submitted_at: new Date().toISOString(), storage_mode: mode }),
  ).rejects.toThrow('probe: not stored');
  return { event: { ...decided[0], event_id: '', command_id: '', occurred_at: '' }, readFrom };
}

/** Every answer that depends on the stream's state. */
async function answers() {
  const at = [];
  for (let v = 1; v <= 8; v++) at.push((await send('GET', `/databases/${db}/instances/x/at/${v}`)).body);
  const missing = await send('GET', `/databases/${db}/instances/x/at/9`);
  const get = (await send('GET', `/databases/${db}/instances/x`)).body;
  return { at, missing: [missing.status, missing.body.code], get, decision: (await coldDecision()).event };
}

test('snapshots every N events; deleting or spoiling them changes no answer', async () => {
  expect((await send('POST', '/databases', { name: db })).status).toBe(201);
  const properties = Array.from({ length: 9 }, (_, i) => ({ name: `p${i + 1}`, type: 'integer' }));
  expect((await send('POST', `/databases/${db}/classes`, { id: 'Thing', label: 'Thing', properties, relationships: [] })).status).toBe(201);
  expect((await send('POST', `/databases/${db}/classes/Thing/instances`, { id: 'x', properties: { p1: 1 } })).status).toBe(201);
  for (let i = 2; i <= 8; i++) expect((await send('PUT', `/databases/${db}/classes/Thing/instances/x`, { properties: { [`p${i}`]: i } })).status).toBe(200);

  // Written after the commands, at the versions where the stream had grown N past the last one.
  const keys = await eventually(snapshotKeys, (k) => k.length >= 2);
  expect(keys.map((k) => Number(k.slice(-25, -5)))).toEqual([3, 6]);
  const snap6 = await p.api.infra.history.snapshotAt!('instance', aggregateId, 7);
  expect(snap6?.state).toMatchObject({ version: 6, status: 'active', instance: { properties: { p1: 1, p2: 2, p3: 3, p4: 4, p5: 5, p6: 6 } } });
  expect((await p.api.infra.history.snapshotAt!('instance', aggregateId, 5))?.state.version).toBe(3);
  expect(await p.api.infra.history.snapshotAt!('instance', aggregateId, 2)).toBeUndefined();

  // A cold worker starts from the newest snapshot: only versions 7 and 8 are read.
  const withSnapshots = await answers();
  expect((await coldDecision()).readFrom).toEqual([7]);
  expect(withSnapshots.decision.payload).toMatchObject({ instance: { properties: { p1: 1, p2: 2, p3: 3, p4: 4, p5: 5, p6: 6, p7: 7, p8: 8, p9: 9 } } });
  expect(withSnapshots.at.map((a: any) => a.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  expect(withSnapshots.at[4].instance.properties).toEqual({ p1: 1, p2: 2, p3: 3, p4: 4, p5: 5 });
  expect(withSnapshots.missing).toEqual([404, 'VERSION_NOT_FOUND']);

  // Spoiled: an unreadable newest snapshot and one of another state version are passed over.
  await put(snapshotKey(6), '{"format":1, not json');
  const stale = { format: 1, state_version: STATE_VERSION + 1, event_schemas: { ONTOLOGY_CLASS_DELETED: 2 }, aggregate_type: 'instance', aggregate_id: aggregateId, version: 7, as_of: null };
  await put(snapshotKey(7), JSON.stringify({ ...stale, state: { ...snap6!.state, version: 7, instance: { id: 'x', class_id: 'Thing', properties: { wrong: true }, relationships: {} } } }));
  expect((await p.api.infra.history.snapshotAt!('instance', aggregateId, 8))?.state.version).toBe(3);
  expect((await coldDecision()).readFrom).toEqual([4]);
  expect(await answers()).toEqual(withSnapshots);

  // Deleted: everything is folded from the events, with the same answers. (The cold loads above
  // started from version 3 and wrote a new snapshot at 8: gone too.)
  await eventually(snapshotKeys, (k) => k.some((key) => key.endsWith(`${String(8).padStart(20, '0')}.json`)));
  const all = (await snapshotKeys()).map((k) => ({ Key: `${p.prefix}${k}` }));
  await operatorS3.send(new DeleteObjectsCommand({ Bucket: testConfig.S3_BUCKET, Delete: { Objects: all } }));
  expect(await p.api.infra.history.snapshotAt!('instance', aggregateId, 8)).toBeUndefined();
  expect((await coldDecision()).readFrom).toEqual([undefined]);
  expect(await answers()).toEqual(withSnapshots);
});

/**
 * The migration's reads and copies on the real PostgreSQL and S3 (issue 10, items 4 and 5):
 * - verify reads a stream the backfill copied with ONE listing and no GET: each index object's
 *   ETag (the MD5 of its bytes) equals the MD5 of the legacy event's serialization;
 * - a version whose S3 object differs (same event id, other content) is read and reported;
 * - the backfill never overwrites an S3 event that differs from the legacy one at a version: the
 *   conditional PUT finds it, the copy stops with STORE_CORRUPTED and the object stays as it was.
 */
import { connectInfrastructure, Infrastructure } from '../../src/app/composition';
import { compareStream } from '../../src/activities/migration';
import type { EventEnvelope } from '../../src/contracts/event-envelope';
import type { StreamId } from '../../src/ports/event-store';
import { StoreCorruptedError } from '../../src/ports/event-store';
import { testConfig, uniqueName } from '../support/env';

const name = uniqueName('migstores');
const schema = name.replace(/-/g, '_');
let infra: Infrastructure;

beforeAll(async () => {
  infra = await connectInfrastructure(testConfig, { schema, readModelSchema: `${schema}_rm`, s3Prefix: `${name}/`, topic: name, poolMax: 4 });
}, 60_000);

afterAll(async () => {
  await infra?.ownerPool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_rm CASCADE`).catch(() => undefined);
  await infra?.close();
});

const stream = (id: string): StreamId => ({ aggregate_type: 'instance', aggregate_id: `${name}-${id}` });

/** Legacy rows written the way the old design wrote them (straight into the table). */
async function seedLegacy(s: StreamId, versions: number[], idOf = (v: number) => `${s.aggregate_id}-e${v}`): Promise<void> {
  for (const v of versions) {
    await infra.pool.query(
      `INSERT INTO ${schema}.legacy_events (event_id, aggregate_type, aggregate_id, aggregate_version, event_type, payload, metadata, occurred_at)
       VALUES ($1, $2, $3, $4, 'INSTANCE_UPDATED', $5, '{"storage_mode": "legacy", "actor": "legacy-system"}', now())`,
      [idOf(v), s.aggregate_type, s.aggregate_id, v, JSON.stringify({ db_name: 'db', instance_id: s.aggregate_id, properties: { n: v } })],
    );
  }
}

/** Counts the GETs of stream index objects of this test's prefix while `fn` runs. */
async function countingIndexGets<T>(fn: () => Promise<T>): Promise<{ result: T; gets: number }> {
  let gets = 0;
  const mw = 'countIndexGets';
  infra.s3.middlewareStack.add(
    (next, context) => async (args) => {
      const key = (args.input as { Key?: string }).Key ?? '';
      if (context.commandName === 'GetObjectCommand' && key.startsWith(`${name}/indexes/by-aggregate/`)) gets += 1;
      return next(args);
    },
    { step: 'initialize', name: mw },
  );
  try {
    return { result: await fn(), gets };
  } finally {
    infra.s3.middlewareStack.remove(mw);
  }
}

test('verify compares streams the backfill copied with one listing each and no GET', async () => {
  const stores = infra.migrationDeps().stores;
  const streams = ['a', 'b', 'c'].map(stream);
  for (const s of streams) await seedLegacy(s, [1, 2, 3, 4]);
  for (const s of streams) expect(await stores.copyStream('legacy', s)).toBe(4);

  const { result, gets } = await countingIndexGets(() => stores.readBoth(streams, 2));
  expect(gets).toBe(0);
  result.forEach((both, i) => {
    expect(both.s3.map((e) => e.envelope.event_id)).toEqual([1, 2, 3, 4].map((v) => `${streams[i].aggregate_id}-e${v}`));
    expect(compareStream(streams[i], both.legacy, both.s3, 's3')).toMatchObject({ differences: [], events: 4 });
  });
  // The same events read the ordinary way: what the shortcut returned is what S3 holds.
  expect(result[0].s3.map((e) => e.envelope)).toEqual((await infra.s3Store.readStream(streams[0])).map((e) => e.envelope));
});

test('verify reads and reports a version whose S3 content differs under the same event id', async () => {
  const stores = infra.migrationDeps().stores;
  const s = stream('d');
  await seedLegacy(s, [1]);
  expect(await stores.copyStream('legacy', s)).toBe(1);
  const [legacyV1] = await infra.legacyStore.readStream(s);
  // S3 gets version 2 first, with other content; the table's version 2 arrives later with the same id.
  const other: EventEnvelope = { ...legacyV1.envelope, event_id: `${s.aggregate_id}-e2`, aggregate_version: 2, payload: { db_name: 'db', instance_id: s.aggregate_id, properties: { n: 'other' } } };
  await infra.s3Store.append(s, 1, [other]);
  await seedLegacy(s, [2, 3]);

  const { result, gets } = await countingIndexGets(() => stores.readBoth([s], 4));
  expect(gets).toBe(1); // version 2 only
  const cmp = compareStream(s, result[0].legacy, result[0].s3, 's3');
  expect(cmp.differences).toEqual([
    expect.objectContaining({ kind: 'content_differs', from_version: 2, versions: 1 }),
    expect.objectContaining({ kind: 'missing_in_s3', from_version: 3, versions: 1 }),
  ]);
});

test('the backfill stops on an S3 event that differs from the legacy one and leaves it as it was', async () => {
  const stores = infra.migrationDeps().stores;
  const s = stream('e');
  await seedLegacy(s, [1]);
  expect(await stores.copyStream('legacy', s)).toBe(1);
  const [legacyV1] = await infra.legacyStore.readStream(s);
  const intruder: EventEnvelope = { ...legacyV1.envelope, event_id: `${s.aggregate_id}-intruder`, aggregate_version: 2 };
  await infra.s3Store.append(s, 1, [intruder]);
  await seedLegacy(s, [2, 3]);

  await expect(stores.copyStream('legacy', s)).rejects.toBeInstanceOf(StoreCorruptedError);
  expect((await infra.s3Store.readStream(s)).map((e) => e.envelope.event_id)).toEqual([`${s.aggregate_id}-e1`, `${s.aggregate_id}-intruder`]);
  // Copying again is idempotent: an identical stream copies nothing and changes nothing.
  const t = stream('f');
  await seedLegacy(t, [1, 2]);
  expect(await stores.copyStream('legacy', t)).toBe(2);
  expect(await stores.copyStream('legacy', t)).toBe(0);
  expect((await infra.s3Store.readStream(t)).map((e) => e.envelope.event_id)).toEqual([`${t.aggregate_id}-e1`, `${t.aggregate_id}-e2`]);
});

/**
 * The OpenSearch projection against the real node: mapping from the class definitions, versioned
 * (idempotent, out-of-order) writes, deletes, database lives, bulk, and what search answers.
 */
import { OpenSearchProjector } from '../../src/adapters/opensearch/projector';
import { OpenSearchQueries } from '../../src/adapters/opensearch/search';
import { externalVersion } from '../../src/adapters/opensearch/indices';
import { searchFixture } from '../support/search';

const fx = searchFixture('search-proj');
const projector = new OpenSearchProjector(fx.client, fx.prefix, { refresh: true });
const queries = new OpenSearchQueries(fx.client, fx.prefix);

afterAll(() => fx.cleanup());

const person = {
  id: 'Person',
  label: 'Person',
  properties: [
    { name: 'name', type: 'string' as const, required: true },
    { name: 'born', type: 'date' as const, required: false },
    { name: 'age', type: 'integer' as const, required: false },
    { name: 'country', type: 'string' as const, required: false },
    { name: 'tags', type: 'array' as const, items: 'string' as const, required: false },
    { name: 'extra', type: 'json' as const, required: false },
  ],
  relationships: [{ predicate: 'knows', target_class: 'Person', cardinality: 'n:m' as const }],
};

async function liveDoc(db: string, id: string) {
  const res = await fx.client.get({ index: `${fx.prefix}.${db}`, id }, { ignore: [404] });
  return res.statusCode === 404 ? null : (res.body as { _version: number; _source: Record<string, unknown> });
}

describe('OpenSearch projection', () => {
  const db = 'people';

  beforeAll(async () => {
    await projector.apply([fx.dbCreated(db), fx.classPut(db, person)]);
  });

  test('the mapping is generated from the class: types, keyword and prefix sub-fields', async () => {
    const res = await fx.client.indices.getMapping({ index: `${fx.prefix}.${db}` });
    const index = Object.keys(res.body)[0];
    expect(index).toBe(`${fx.prefix}.${db}.i1.g1`);
    const props = (res.body[index].mappings.properties as Record<string, { properties: Record<string, Record<string, unknown>> }>).properties.properties;
    expect(props.name).toMatchObject({ type: 'text', analyzer: 'spice_text', fields: { keyword: { type: 'keyword' }, prefix: { type: 'text', analyzer: 'spice_prefix' } } });
    expect(props.born).toMatchObject({ type: 'date', format: 'strict_date' });
    expect(props.age).toMatchObject({ type: 'long' });
    expect(props.tags).toMatchObject({ type: 'text' });
    expect(props.extra).toMatchObject({ type: 'object', enabled: false });
  });

  test('idempotent and out of order: an older version never overwrites a newer one', async () => {
    const v1 = fx.instancePut(db, { id: 'ada', class_id: 'Person', properties: { name: 'Ada Byron' } }, 1);
    const v2 = fx.instancePut(db, { id: 'ada', class_id: 'Person', properties: { name: 'Ada Lovelace', country: 'UK' } }, 2);
    await projector.apply([v2]);
    const late = await projector.apply([v1, v2]);
    expect(late).toMatchObject({ stale: 2, written: 0 });
    const doc = await liveDoc(db, 'ada');
    expect(doc?._version).toBe(externalVersion(1, 2));
    expect(doc?._source.properties).toEqual({ name: 'Ada Lovelace', country: 'UK' });
  });

  test('typo tolerance, prefix search and name boosting', async () => {
    await projector.apply([
      fx.instancePut(db, { id: 'grace', class_id: 'Person', properties: { name: 'Grace Hopper', country: 'US' } }),
      fx.instancePut(db, { id: 'fan', class_id: 'Person', properties: { name: 'Bob', tags: ['admires Ada Lovelace'], country: 'UK' } }),
    ]);
    const typo = await queries.search(db, { q: 'Ada Lovelce', limit: 10 });
    expect(typo.items.map((i) => i.id)).toEqual(['ada', 'fan']);
    expect(typo.items[0].highlights.name?.[0]).toContain('<em>');
    const prefix = await queries.search(db, { q: 'hopp', limit: 10 });
    expect(prefix.items.map((i) => i.id)).toEqual(['grace']);
  });

  test('facets per class and per keyword property; filters; cursor pagination', async () => {
    const r = await queries.search(db, { q: 'a', limit: 1, facets: ['country'], filter: { country: 'UK' } });
    expect(r.total).toBe(2);
    expect(r.facets.class_id).toEqual([{ value: 'Person', count: 2 }]);
    expect(r.facets.country).toEqual([{ value: 'UK', count: 2 }]);
    expect(r.next_cursor).not.toBeNull();
    const page2 = await queries.search(db, { q: 'a', limit: 1, filter: { country: 'UK' }, cursor: r.next_cursor! });
    expect(page2.items).toHaveLength(1);
    expect(page2.items[0].id).not.toBe(r.items[0].id);
    const page3 = await queries.search(db, { q: 'a', limit: 1, filter: { country: 'UK' }, cursor: page2.next_cursor! });
    expect(page3.items).toHaveLength(0);
  });

  test('a delete removes the document; a late older write does not bring it back', async () => {
    const create = fx.instancePut(db, { id: 'gone', class_id: 'Person', properties: { name: 'Temporary Person' } }, 1);
    await projector.apply([create, fx.instanceDeleted(db, 'gone', 'Person', 2)]);
    expect(await liveDoc(db, 'gone')).toBeNull();
    expect(await projector.apply([create])).toMatchObject({ stale: 1 });
    expect(await liveDoc(db, 'gone')).toBeNull();
  });

  test('deleting the database removes its indices; events of the deleted life are dropped', async () => {
    const other = 'doomed';
    await projector.apply([fx.dbCreated(other), fx.classPut(other, person), fx.instancePut(other, { id: 'x', class_id: 'Person', properties: { name: 'X' } })]);
    await projector.apply([fx.dbDeleted(other, 2)]);
    const left = await fx.client.indices.get({ index: `${fx.prefix}.${other}.*`, allow_no_indices: true });
    expect(Object.keys(left.body)).toEqual([]);
    const late = await projector.apply([fx.instancePut(other, { id: 'y', class_id: 'Person', properties: { name: 'Y' } }, 1, 1)]);
    expect(late).toMatchObject({ dropped: 1, written: 0 });
    // The next life starts empty.
    await projector.apply([fx.dbCreated(other, 3)]);
    expect((await queries.search(other, { q: 'x', limit: 10 })).total).toBe(0);
  });

  test('an event of a life search has not seen yet is retried, not dropped', async () => {
    await expect(projector.apply([fx.instancePut('unborn', { id: 'z', class_id: 'Person', properties: {} })])).rejects.toMatchObject({ code: 'SEARCH_INDEX_BEHIND' });
  });
});

describe('OpenSearch reconciliation', () => {
  const db = 'recon';
  const state = (id: string, version: number, name: string, deleted = false) => ({
    db,
    incarnation: 1,
    id,
    class_id: 'Person',
    properties: { name },
    relationships: {},
    version,
    deleted,
    updated_at: new Date().toISOString(),
  });

  test('documents missing or behind their stream version are re-projected; deleted ones removed; current ones left alone', async () => {
    await projector.apply([
      fx.dbCreated(db),
      fx.classPut(db, person),
      fx.instancePut(db, { id: 'current', class_id: 'Person', properties: { name: 'Current' } }, 3),
      fx.instancePut(db, { id: 'behind', class_id: 'Person', properties: { name: 'Old Name' } }, 1),
      fx.instancePut(db, { id: 'deleted', class_id: 'Person', properties: { name: 'Still Here' } }, 1),
    ]);
    const r = await projector.reconcile([state('current', 3, 'Current'), state('behind', 2, 'New Name'), state('missing', 1, 'Never Projected'), state('deleted', 2, '', true)]);
    expect(r).toEqual({ checked: 4, reprojected: 3 });
    expect((await liveDoc(db, 'behind'))?._source.properties).toEqual({ name: 'New Name' });
    expect((await liveDoc(db, 'missing'))?._version).toBe(externalVersion(1, 1));
    expect(await liveDoc(db, 'deleted')).toBeNull();
    expect((await liveDoc(db, 'current'))?._version).toBe(externalVersion(1, 3));
    expect(await projector.reconcile([state('behind', 2, 'New Name')])).toEqual({ checked: 1, reprojected: 0 });
  });
});

test('a bulk of 10,000 instances is indexed in chunks and searchable', async () => {
  const db = 'bulky';
  const bulkProjector = new OpenSearchProjector(fx.client, fx.prefix, { chunkSize: 1000 });
  await bulkProjector.apply([fx.dbCreated(db), fx.classPut(db, person)]);
  const batches = Array.from({ length: 10 }, (_, b) =>
    fx.bulk(
      db,
      `batch${b}`,
      'Person',
      Array.from({ length: 1000 }, (_, i) => ({ id: `i${b * 1000 + i}`, class_id: 'Person', properties: { name: `Bulk Person ${b * 1000 + i}`, country: b % 2 ? 'UK' : 'FR' }, relationships: {} })),
    ),
  );
  const r = await bulkProjector.apply(batches);
  expect(r).toEqual({ written: 10_000, stale: 0, dropped: 0 });
  await fx.refresh();
  const found = await queries.search(db, { q: 'bulk person', limit: 5, facets: ['country'] });
  expect(found.total).toBe(10_000);
  expect(found.facets.country).toEqual([
    { value: 'FR', count: 5000 },
    { value: 'UK', count: 5000 },
  ]);
  expect((await queries.search(db, { q: 'Person 4242', limit: 1 })).items[0].id).toBe('i4242');
  // Applied again (a retried activity): every write is refused as stale, nothing changes.
  expect(await bulkProjector.apply(batches.slice(0, 1))).toEqual({ written: 0, stale: 1000, dropped: 0 });
}, 120_000);

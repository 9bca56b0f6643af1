/**
 * Search through the API, answered by OpenSearch: the events reach the index through the same
 * project step as the read models; typo tolerance, facets, filters, highlights and cursors; a
 * class change that needs a new mapping is reindexed (started by the reconciliation) while search
 * keeps answering (test/int/search-reindex.int.test.ts); deletes leave the index; the rebuild from
 * S3 rebuilds the index too.
 */
import { startPipeline, Pipeline } from '../support/pipeline';
import { sendJson, seedDatabase } from '../support/http';
import { eventually } from '../support/env';
import { reindexWorkflowId } from '../../src/workflows/reindex-search';

let p: Pipeline;
const db = 'catalog';
const send = (method: string, path: string, body?: unknown) => sendJson(p.url, method, path, body, { prefer: 'wait=30' });
const search = (query: string) => sendJson(p.url, 'GET', `/databases/${db}/search?${query}`);
const ids = (r: { body: { items: Array<{ id: string }> } }) => r.body.items.map((i) => i.id);

const person = {
  id: 'Person',
  label: 'Person',
  properties: [
    { name: 'name', type: 'string', required: true },
    { name: 'country', type: 'string' },
    { name: 'age', type: 'integer' },
    { name: 'notes', type: 'string' },
  ],
};

beforeAll(async () => {
  p = await startPipeline('e2e-search');
  await seedDatabase(p.url, db, person);
  const people = [
    { id: 'ada', properties: { name: 'Ada Lovelace', country: 'UK', age: 36 } },
    { id: 'grace', properties: { name: 'Grace Hopper', country: 'US', age: 85 } },
    { id: 'alan', properties: { name: 'Alan Turing', country: 'UK', age: 41, notes: 'read the notes of Ada Lovelace' } },
  ];
  for (const x of people) expect((await send('POST', `/databases/${db}/classes/Person/instances`, x)).status).toBe(201);
  const bulk = await send('POST', `/databases/${db}/classes/Person/instances:bulk`, {
    instances: Array.from({ length: 300 }, (_, i) => ({ id: `m${i}`, properties: { name: `Member ${i}`, country: i % 3 === 0 ? 'FR' : 'DE', age: i } })),
  });
  // 202 when the bulk outlasts the wait on a busy machine: the search below waits for it.
  expect([201, 202]).toContain(bulk.status);
  // Search is near real time: a write is visible within the index's refresh interval (1 s).
  await eventually(
    () => search('q=member&limit=1'),
    (r) => r.body?.total === 300,
    150_000,
    500,
  );
}, 180_000);
afterAll(() => p?.close());

test('typo tolerance, name first, highlights; answered by OpenSearch', async () => {
  const r = await search(`q=${encodeURIComponent('Ada Lovelce')}`);
  expect(r.status).toBe(200);
  expect(r.body.engine).toBe('opensearch');
  // ada's name matches; alan mentions her in his notes.
  expect(ids(r).sort()).toEqual(['ada', 'alan']);
  const ada = r.body.items.find((i: { id: string }) => i.id === 'ada');
  expect(ada.highlights.name[0]).toBe('<em>Ada</em> <em>Lovelace</em>');
  expect(ada).toMatchObject({ class_id: 'Person', version: 1, properties: { name: 'Ada Lovelace', country: 'UK', age: 36 } });
  // Weigh the notes above the name: the order turns. Only alan has notes, so a term there has a low
  // inverse document frequency against all_text over 303 documents (BM25): the weight has to make up for it.
  expect(ids(await search(`q=${encodeURIComponent('Ada Lovelace')}&boost=name:0,notes:90`))).toEqual(['alan', 'ada']);
  // Prefix of a word still being typed.
  expect(ids(await search('q=hopp'))).toEqual(['grace']);
});

test('facets, filters and cursor pages', async () => {
  const r = await search('q=member&facets=country,age&filter[country]=FR&limit=40');
  expect(r.body.total).toBe(100);
  expect(r.body.facets.class_id).toEqual([{ value: 'Person', count: 100 }]);
  expect(r.body.facets.country).toEqual([{ value: 'FR', count: 100 }]);
  expect(r.body.facets.age).toHaveLength(50);
  const seen = new Set<string>(ids(r));
  let cursor = r.body.next_cursor;
  while (cursor) {
    const page = await search(`q=member&filter[country]=FR&limit=40&cursor=${cursor}`);
    for (const id of ids(page)) seen.add(id);
    cursor = page.body.next_cursor;
  }
  expect(seen.size).toBe(100);
  expect((await search('q=member&filter[age]=3')).body.items.map((i: { id: string }) => i.id)).toEqual(['m3']);
});

test('bad search input is refused with a problem', async () => {
  for (const q of ['', 'q=', 'q=x&facets=not%20a%20name', 'q=x&boost=name', 'q=x&limit=1000', 'q=x&cursor=bogus', 'q=x&sort=name']) {
    const r = await search(q);
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(r.body.code).toBe('INVALID_QUERY');
  }
  expect((await sendJson(p.url, 'GET', '/databases/nope/search?q=x')).body.code).toBe('DATABASE_NOT_FOUND');
});

test('a class change the mapping cannot take: the reconciliation starts the reindex workflow, search answers throughout, the new mapping holds', async () => {
  const search_ = p.api.infra.search!;
  const alias = `${search_.prefix}.${db}`;
  const before = Object.keys((await search_.client.indices.getAlias({ name: alias })).body);
  // age was an integer (a long in the index): as a string it needs a new index.
  const changed = await send('PUT', `/databases/${db}/classes/Person`, { properties: person.properties.map((x) => (x.name === 'age' ? { ...x, type: 'string' } : x)) });
  expect(changed.status).toBe(200);

  let searching = true;
  const totals: number[] = [];
  const reader = (async () => {
    while (searching) {
      totals.push((await search('q=member&limit=1')).body.total);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    const run = await p.client.workflow.execute('reconcileDeliveries', { taskQueue: p.taskQueue, workflowId: `reconcile-${alias}`, args: [{ grace_seconds: 0 }] });
    expect(run.search_reindex_started).toEqual([db]);
    const reindexed = await p.client.workflow.getHandle(reindexWorkflowId(alias)).result();
    expect(reindexed).toMatchObject({ phase: 'COMPLETED', db, source: before[0], total: 303 });
  } finally {
    searching = false;
    await reader;
  }
  // Search never answered nothing while the reindex ran.
  expect(totals.length).toBeGreaterThan(0);
  expect([...new Set(totals)]).toEqual([300]);

  const after = Object.keys((await search_.client.indices.getAlias({ name: alias })).body);
  expect(after).toHaveLength(1);
  expect(after[0]).not.toBe(before[0]);
  // The new mapping takes a string age, and it is searchable.
  expect((await send('PUT', `/databases/${db}/classes/Person/instances/grace`, { properties: { name: 'Grace Hopper', country: 'US', age: 'eighty-five' } })).status).toBe(200);
  expect(
    ids(
      await eventually(
        () => search('q=eighty'),
        (r) => r.body.total === 1,
      ),
    ),
  ).toEqual(['grace']);
}, 300_000);

test('deletes leave the index; the rebuild from S3 rebuilds it and equals the live one', async () => {
  expect((await send('DELETE', `/databases/${db}/classes/Person/instances/alan`)).status).toBe(200);
  await eventually(
    () => search('q=turing'),
    (r) => r.body.total === 0,
  );

  const target = `${p.api.infra.readModelSchema}_rebuild`;
  const outcome = await p.client.workflow.execute('rebuildReadModels', {
    taskQueue: p.taskQueue,
    workflowId: `rebuild-${target}`,
    args: [{ target_schema: target, chunk_size: 50, search: {} }],
  });
  expect(outcome).toMatchObject({ equal: true, search: [{ db, equal: true, switched: true, live_count: 302, rebuilt_count: 302 }] });
  await p.api.infra.ownerPool.query(`DROP SCHEMA ${target} CASCADE`);
  expect(ids(await search('q=grace'))).toEqual(['grace']);

  expect((await send('DELETE', `/databases/${db}`)).status).toBe(200);
  const left = await p.api.infra.search!.client.indices.get({ index: `${p.api.infra.search!.prefix}.${db}.*`, allow_no_indices: true });
  expect(Object.keys(left.body)).toEqual([]);
}, 300_000);

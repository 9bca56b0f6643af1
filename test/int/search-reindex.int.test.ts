/**
 * Zero-downtime moves of a database's documents to a new index generation on the real node: a
 * class change that needs a new mapping (reindex by copy) and a rebuild from the events (replay
 * into a new generation), each compared with the live index and switched by the alias.
 */
import { OpenSearchProjector } from '../../src/adapters/opensearch/projector';
import { OpenSearchQueries } from '../../src/adapters/opensearch/search';
import { SearchGenerations } from '../../src/adapters/opensearch/generations';
import type { GenerationPlan } from '../../src/contracts/search';
import { searchFixture } from '../support/search';
import type { EventEnvelope } from '../../src/contracts/event-envelope';

const fx = searchFixture('search-reidx');
const projector = new OpenSearchProjector(fx.client, fx.prefix);
const queries = new OpenSearchQueries(fx.client, fx.prefix);
const generations = new SearchGenerations(fx.client, fx.prefix);

afterAll(() => fx.cleanup());

const N = 300;
const person = (ageType: 'integer' | 'string') => ({
  id: 'Person',
  properties: [
    { name: 'name', type: 'string' as const, required: true },
    { name: 'age', type: ageType, required: false },
  ],
});

async function copyAll(plan: GenerationPlan): Promise<number> {
  let copied = 0;
  for (let after: string | null = null; ;) {
    const page = await generations.copyPage(plan, after, 50);
    copied += page.copied;
    if (page.next === null) return copied;
    after = page.next;
  }
}

test('a class change that needs a new mapping reindexes behind the alias; search never answers nothing', async () => {
  const db = 'staff';
  const events: EventEnvelope[] = [fx.dbCreated(db), fx.classPut(db, person('integer'))];
  for (let i = 0; i < N; i++) events.push(fx.instancePut(db, { id: `p${String(i).padStart(4, '0')}`, class_id: 'Person', properties: { name: `Person Number ${i}`, age: i } }));
  await projector.apply(events);
  await fx.refresh();
  expect((await queries.search(db, { q: 'person', limit: 1 })).total).toBe(N);

  // age becomes a string: the live mapping (long) cannot take it in place.
  await projector.apply([fx.classPut(db, person('string'), 2)]);
  const requested = await generations.indices.pendingReindexes();
  expect(requested.map((r) => r.db)).toEqual([db]);

  // Readers search all the time the reindex runs.
  let searching = true;
  const totals: number[] = [];
  const reader = (async () => {
    while (searching) totals.push((await queries.search(db, { q: 'person', limit: 1 })).total);
  })();

  const plan = (await generations.begin(db))!;
  expect(plan.target).toBe(`${fx.prefix}.${db}.i1.g2`);
  // Writes during the copy reach both generations.
  await projector.apply([fx.instancePut(db, { id: 'p0000', class_id: 'Person', properties: { name: 'Person Number 0', age: 'forty' } }, 2)]);
  expect(await copyAll(plan)).toBeGreaterThanOrEqual(N - 1);
  const cmp = await generations.compare(plan);
  expect(cmp).toMatchObject({ equal: true, live_count: N, rebuilt_count: N });
  await generations.switchTo(plan);
  await copyAll(plan);
  expect(await generations.dropOlder(plan)).toEqual([`${fx.prefix}.${db}.i1.g1`]);
  await generations.indices.clearReindex(db, requested[0].requested_at);
  expect(await generations.indices.pendingReindexes()).toEqual([]);

  searching = false;
  await reader;
  expect(totals.length).toBeGreaterThan(3);
  expect(totals.every((t) => t === N)).toBe(true);

  // The new mapping holds: age is text now, and the string value is searchable.
  const mapping = await fx.client.indices.getMapping({ index: `${fx.prefix}.${db}` });
  const idx = Object.keys(mapping.body)[0];
  expect(idx).toBe(plan.target);
  expect((mapping.body[idx].mappings.properties as Record<string, { properties: Record<string, { type: string }> }>).properties.properties.age.type).toBe('text');
  await fx.refresh();
  expect((await queries.search(db, { q: 'forty', limit: 5 })).items.map((i) => i.id)).toEqual(['p0000']);
  // Writes after the switch go to the new generation only.
  await projector.apply([fx.instancePut(db, { id: 'p0001', class_id: 'Person', properties: { name: 'Renamed Person', age: 'one' } }, 2)]);
  await fx.refresh();
  expect((await queries.search(db, { q: 'renamed', limit: 5 })).items.map((i) => i.id)).toEqual(['p0001']);
});

test('a rebuild replays the events into a new generation, equals the live index, and switches', async () => {
  const db = 'books';
  const events: EventEnvelope[] = [fx.dbCreated(db), fx.classPut(db, { id: 'Book', properties: [{ name: 'title', type: 'string', required: true }] })];
  for (let i = 0; i < 50; i++) events.push(fx.instancePut(db, { id: `b${i}`, class_id: 'Book', properties: { title: `Book ${i}` } }));
  events.push(fx.instancePut(db, { id: 'b1', class_id: 'Book', properties: { title: 'Book one, revised' } }, 2));
  events.push(fx.instanceDeleted(db, 'b2', 'Book', 2));
  await projector.apply(events);

  const plans = await generations.beginAll();
  const plan = plans.find((p) => p.db === db)!;
  const rebuild = new OpenSearchProjector(fx.client, fx.prefix, { onlyIndices: new Set(plans.map((p) => p.target)) });
  // The replay in time order, in chunks, as the rebuild workflow reads the event store.
  for (let i = 0; i < events.length; i += 20) await rebuild.apply(events.slice(i, i + 20));
  expect(await generations.compare(plan)).toMatchObject({ equal: true, live_count: 49, rebuilt_count: 49 });

  // A difference is found and named.
  await fx.client.index({ index: plan.target, id: 'stray', body: { id: 'stray', class_id: 'Book' }, refresh: true });
  expect(await generations.compare(plan)).toMatchObject({ equal: false, missing_in_live: 1, missing_in_rebuilt: 0, different_versions: 0 });
  await fx.client.delete({ index: plan.target, id: 'stray', refresh: true });

  await generations.switchTo(plan);
  expect(await generations.dropOlder(plan)).toEqual([`${fx.prefix}.${db}.i1.g1`]);
  await fx.refresh();
  const r = await queries.search(db, { q: 'revised', limit: 5 });
  expect(r.items.map((i) => [i.id, i.version])).toEqual([['b1', 2]]);
  expect((await queries.search(db, { q: 'book', limit: 100 })).total).toBe(49);
});

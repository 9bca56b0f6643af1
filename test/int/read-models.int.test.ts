/**
 * Read models against the real PostgreSQL: every event type, exactly-once application, the
 * queries, and rebuild equality. Events are real domain events: commands go through decide()
 * with a context loaded from the read models themselves, the way the command workflow does it.
 */
import type { Pool } from 'pg';
import { createOwnerPool } from '../../src/adapters/postgres/postgres';
import { EventEnvelope, envelopeOf } from '../../src/contracts/event-envelope';
import {
  PgReadModelQueries,
  READ_MODEL_MIGRATIONS,
  ReadModelProjector,
  compareReadModels,
  dropReadModels,
  encodeCursor,
  isReadModelError,
  migrateReadModels,
  rebuildReadModels,
} from '../../src/adapters/postgres/read-models';
import {
  AggregateState,
  CommandInput,
  DecideContext,
  aggregateStateFrom,
  contextNeeds,
  databaseOf,
  decide,
  incarnationFor,
  instanceStateFromBatch,
  splitAggregateId,
  streamOf,
} from '../../src/domain';
import { testConfig, uniqueName } from '../support/env';

/** An in-memory event log that decides commands like the workflow does and projects what it stores. */
class Harness {
  readonly events: EventEnvelope[] = [];
  private commands = 0;
  private clock = Date.parse('2024-03-01T10:00:00.000Z');

  constructor(
    readonly projector: ReadModelProjector,
    readonly queries: PgReadModelQueries,
  ) {}

  stream(type: string, id: string): EventEnvelope[] {
    return this.events.filter((e) => e.aggregate_type === type && e.aggregate_id === id);
  }

  /** The database as its own stream has it (the activity reads it from the event store, never from the read models). */
  private databaseState(db: string) {
    return aggregateStateFrom(this.stream('database', db), 'database');
  }

  /** In the current life of the command's database, as the workflow's activity finds it. */
  private async streamFor(command: CommandInput) {
    const db = databaseOf(command);
    return streamOf(command, incarnationFor(db === undefined ? undefined : this.databaseState(db)));
  }

  private async stateOf(command: CommandInput): Promise<AggregateState | undefined> {
    const { aggregate_type, aggregate_id } = await this.streamFor(command);
    const own = this.stream(aggregate_type, aggregate_id);
    if (aggregate_type === 'instance' && !own.some((e) => e.event_type === 'INSTANCE_CREATED')) {
      const { db, id } = splitAggregateId(aggregate_id);
      const origin = await this.queries.bulkOrigin(db, id);
      if (origin) {
        const batch = this.stream('instance_batch', origin.aggregate_id).find((e) => e.aggregate_version === origin.version)!;
        return aggregateStateFrom(own, 'instance', instanceStateFromBatch(batch, id));
      }
    }
    return own.length > 0 ? aggregateStateFrom(own) : undefined;
  }

  private async contextOf(command: CommandInput): Promise<DecideContext> {
    const needs = contextNeeds(command);
    const ctx: DecideContext = {};
    const db = needs.database;
    if (db === undefined) return ctx;
    ctx.database = this.databaseState(db);
    if (needs.classes) ctx.classes = await this.queries.classCatalog(db);
    if (needs.instanceIds.length > 0) ctx.targets = await this.queries.instanceRefs(db, needs.instanceIds);
    if (needs.instanceCountOf) ctx.instanceCount = await this.queries.countInstances(db, needs.instanceCountOf);
    return ctx;
  }

  /** Decides and stores without projecting. */
  async decide(command: CommandInput, batchSize?: number): Promise<EventEnvelope[]> {
    const result = decide(command, await this.stateOf(command), await this.contextOf(command), { batchSize });
    if (!result.ok) throw new Error(`${command.command_type} refused: ${JSON.stringify(result.error)}`);
    const { aggregate_type, aggregate_id } = await this.streamFor(command);
    const base = this.stream(aggregate_type, aggregate_id).length;
    const commandId = `cmd-${++this.commands}`;
    this.clock += 1000;
    const occurredAt = new Date(this.clock).toISOString();
    const stored = result.events.map((draft, i) => envelopeOf<unknown>(draft, { commandId, position: i, version: base + i + 1, occurredAt, actor: 'tester', storageMode: 's3_only' }));
    this.events.push(...stored);
    return stored;
  }

  async run(command: CommandInput, batchSize?: number): Promise<EventEnvelope[]> {
    const stored = await this.decide(command, batchSize);
    await this.projector.apply(stored);
    return stored;
  }
}

const DB = 'shop';
const people = (n: number, prefix = 'p'): Array<{ id: string; properties: Record<string, unknown>; relationships: Record<string, string | string[]> }> =>
  Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${String(i).padStart(5, '0')}`,
    properties: { name: `Person ${i}`, age: i % 90, city: i % 2 === 0 ? 'Paris' : 'Lyon', bio: i === 7 ? 'loves quantum gardening' : 'plain' },
    relationships: { works_for: 'acme', ...(i > 0 ? { knows: [`${prefix}${String(i - 1).padStart(5, '0')}`] } : {}) },
  }));

describe('read models (PostgreSQL)', () => {
  let pool: Pool;
  const schema = uniqueName('rm');
  const rebuilt = uniqueName('rm-rebuilt');
  const scratch = uniqueName('rm-scratch');
  let projector: ReadModelProjector;
  let queries: PgReadModelQueries;
  let h: Harness;
  const s = `"${schema}"`;
  const rows = async <T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> => (await pool.query(sql, params)).rows as T[];

  beforeAll(async () => {
    pool = createOwnerPool(testConfig, { max: 8 });
    await migrateReadModels(pool, schema);
    projector = new ReadModelProjector(pool, schema);
    queries = new PgReadModelQueries(pool, schema);
    h = new Harness(projector, queries);
  });

  afterAll(async () => {
    for (const name of [schema, rebuilt, scratch]) await dropReadModels(pool, name);
    await pool.end();
  });

  test('migrations are idempotent and safe when several processes start together', async () => {
    const results = await Promise.all([1, 2, 3].map(() => migrateReadModels(pool, scratch)));
    expect(results.map((r) => r.applied).sort()).toEqual([[], [], READ_MODEL_MIGRATIONS.map((m) => m.version)]);
    expect((await migrateReadModels(pool, scratch)).applied).toEqual([]);
    const indexes = await rows<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 ORDER BY 1`, [scratch]);
    expect(indexes.map((i) => i.indexname)).toEqual(expect.arrayContaining(['edges_incoming_idx', 'instances_properties_idx', 'instances_search_idx', 'instances_class_idx']));
  });

  test('DATABASE_CREATED and ontology class events', async () => {
    const [created] = await h.run({ command_type: 'CREATE_DATABASE', payload: { name: DB, description: 'a shop' } });
    expect(await rows(`SELECT name, description, status, version, created_at FROM ${s}.databases`)).toEqual([
      { name: DB, description: 'a shop', status: 'active', version: 1, created_at: new Date(created.occurred_at) },
    ]);
    await h.run({ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Agent', label: 'Agent', abstract: true, properties: [{ name: 'name', type: 'string', required: true }] } });
    await h.run({ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Company', label: 'Company', parent_class: 'Agent' } });
    await h.run({
      command_type: 'CREATE_ONTOLOGY_CLASS',
      db_name: DB,
      payload: {
        id: 'Person',
        label: 'Person',
        parent_class: 'Agent',
        properties: [
          { name: 'age', type: 'integer' },
          { name: 'city', type: 'string' },
          { name: 'bio', type: 'string' },
        ],
        relationships: [
          { predicate: 'works_for', target_class: 'Company', cardinality: 'n:1' },
          { predicate: 'knows', target_class: 'Person', cardinality: 'n:m' },
        ],
      },
    });
    await h.run({ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Scratch', label: 'Scratch' } });
    const [updated] = await h.run({ command_type: 'UPDATE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Person', label: 'Human', description: 'a person' } });
    await h.run({ command_type: 'DELETE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Scratch' } });

    const classes = await rows(`SELECT class_id, label, description, parent_class, abstract, version, updated_at FROM ${s}.classes ORDER BY class_id`);
    expect(classes).toEqual([
      expect.objectContaining({ class_id: 'Agent', label: 'Agent', abstract: true, parent_class: null, version: 1 }),
      expect.objectContaining({ class_id: 'Company', parent_class: 'Agent', abstract: false }),
      { class_id: 'Person', label: 'Human', description: 'a person', parent_class: 'Agent', abstract: false, version: 2, updated_at: new Date(updated.occurred_at) },
    ]);
    const person = await queries.getClass(DB, 'Person');
    expect(person?.definition).toMatchObject({ id: 'Person', label: 'Human', relationships: [{ predicate: 'works_for' }, { predicate: 'knows' }] });
    expect(await queries.getClass(DB, 'Scratch')).toBeNull();
    expect(Object.keys(await queries.classCatalog(DB)).sort()).toEqual(['Agent', 'Company', 'Person']);
    expect(await queries.databaseState(DB)).toEqual({ aggregate_type: 'database', version: 1, status: 'active', name: DB, description: 'a shop', incarnation: 1 });
    expect(await queries.databaseState('nope')).toEqual({ aggregate_type: 'database', version: 0, status: 'absent' });
    expect((await queries.listDatabases({ limit: 10 })).items.map((d) => d.name)).toEqual([DB]);
  });

  test('instance events maintain rows, versions, edges and tombstones', async () => {
    await h.run({ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'acme', class_id: 'Company', properties: { name: 'Acme Corp' } } });
    await h.run({ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'ada', class_id: 'Person', properties: { name: 'Ada Lovelace', age: 36 }, relationships: { works_for: 'acme' } } });
    await h.run({ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'bob', class_id: 'Person', properties: { name: 'Bob' }, relationships: { knows: ['ada'], works_for: 'acme' } } });
    await h.run({ command_type: 'UPDATE_INSTANCE', db_name: DB, payload: { id: 'ada', properties: { city: 'London', age: null }, relationships: { knows: ['bob'] } } });

    expect(await rows(`SELECT instance_id, version, properties, relationships, deleted FROM ${s}.instances WHERE instance_id = 'ada'`)).toEqual([
      { instance_id: 'ada', version: 2, properties: { name: 'Ada Lovelace', city: 'London' }, relationships: { works_for: 'acme', knows: ['bob'] }, deleted: false },
    ]);
    expect(await rows(`SELECT from_id, predicate, to_id FROM ${s}.edges ORDER BY 1, 2, 3`)).toEqual([
      { from_id: 'ada', predicate: 'knows', to_id: 'bob' },
      { from_id: 'ada', predicate: 'works_for', to_id: 'acme' },
      { from_id: 'bob', predicate: 'knows', to_id: 'ada' },
      { from_id: 'bob', predicate: 'works_for', to_id: 'acme' },
    ]);
    const search = await rows<{ search: string }>(`SELECT search::text AS search FROM ${s}.instances WHERE instance_id = 'ada'`);
    expect(search[0].search).toContain("'lovelace'");

    await h.run({ command_type: 'DELETE_INSTANCE', db_name: DB, payload: { id: 'bob' } });
    expect(await rows(`SELECT version, deleted, properties, class_id FROM ${s}.instances WHERE instance_id = 'bob'`)).toEqual([{ version: 2, deleted: true, properties: {}, class_id: 'Person' }]);
    expect(await rows(`SELECT count(*)::int AS n FROM ${s}.edges WHERE from_id = 'bob'`)).toEqual([{ n: 0 }]);
    expect(await queries.getInstance(DB, 'bob')).toBeNull();
    expect(await queries.instanceRefs(DB, ['ada', 'bob', 'nobody'])).toEqual({
      ada: { class_id: 'Person', deleted: false },
      bob: { class_id: 'Person', deleted: true },
    });
    // the deleted bob no longer shows as ada's neighbour, though ada's data still names him
    expect(await queries.relationships(DB, 'ada', { limit: 100 })).toEqual({
      outgoing: [{ from_id: 'ada', predicate: 'works_for', to_id: 'acme' }],
      incoming: [],
      next_cursor: null,
    });

    // re-creating a deleted instance continues its stream and starts a new life
    const [again] = await h.run({ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'bob', class_id: 'Person', properties: { name: 'Bob II' }, relationships: { works_for: 'acme' } } });
    expect(await queries.getInstance(DB, 'bob')).toMatchObject({ version: 3, properties: { name: 'Bob II' }, created_at: again.occurred_at });
    expect(await queries.countInstances(DB, 'Person')).toBe(2);
    expect(await queries.countInstances(DB, 'Company')).toBe(1);
  });

  test('the same events applied again, concurrently, or an older one after a newer one change nothing', async () => {
    const snapshot = async (): Promise<string> =>
      JSON.stringify(await Promise.all(['databases', 'classes', 'instances', 'edges', 'stream_positions'].map((t) => rows(`SELECT * FROM ${s}.${t} ORDER BY 1, 2`))));
    const before = await snapshot();
    const again = await Promise.all([projector.apply(h.events), projector.apply(h.events), projector.apply([...h.events].reverse())]);
    expect(again.map((r) => r.applied)).toEqual([0, 0, 0]);
    expect(again[0].skipped).toBe(h.events.length);
    const adaV1 = h.stream('instance', `${DB}:ada`)[0];
    expect(adaV1.aggregate_version).toBe(1);
    expect((await projector.apply([adaV1])).skipped).toBe(1);
    expect(await snapshot()).toBe(before);
  });

  test('a new stream with fresh events applies them exactly once under concurrent calls', async () => {
    const events = await h.decide({ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'cy', class_id: 'Person', properties: { name: 'Cy' } } });
    const results = await Promise.all(Array.from({ length: 4 }, () => projector.apply(events)));
    expect(results.reduce((n, r) => n + r.applied, 0)).toBe(1);
    expect(await queries.streamVersion('instance', `${DB}:cy`)).toBe(1);
  });

  test('an event ahead of its stream fails the call with PROJECTION_GAP, or is filled from the history', async () => {
    await h.decide({ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'dee', class_id: 'Person', properties: { name: 'Dee' } } });
    const [v2] = await h.decide({ command_type: 'UPDATE_INSTANCE', db_name: DB, payload: { id: 'dee', properties: { city: 'Oslo' } } });
    const err = await projector.apply([v2]).catch((e: unknown) => e);
    expect(isReadModelError(err, 'PROJECTION_GAP')).toBe(true);
    expect(await queries.getInstance(DB, 'dee')).toBeNull();

    const history = { readStream: async (type: string, id: string, to?: number) => h.stream(type, id).filter((e) => to === undefined || e.aggregate_version <= to) };
    const healing = new ReadModelProjector(pool, schema, { history });
    expect(await healing.apply([v2])).toEqual({ applied: 1, skipped: 0, filled: 1, dropped: 0 });
    expect(await queries.getInstance(DB, 'dee')).toMatchObject({ version: 2, properties: { name: 'Dee', city: 'Oslo' } });
  });

  test('a 1,000-instance bulk event applies in one call; the instances get version 0 and their batch origin', async () => {
    const events = await h.decide({ command_type: 'BULK_CREATE_INSTANCES', db_name: DB, batch_id: 'bulk-1', payload: { class_id: 'Person', instances: people(1000) } });
    expect(events).toHaveLength(1);
    expect((events[0].payload as { instances: unknown[] }).instances).toHaveLength(1000);
    const started = Date.now();
    expect(await projector.apply(events)).toEqual({ applied: 1, skipped: 0, filled: 0, dropped: 0 });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(5000);

    expect(await rows(`SELECT count(*)::int AS n, min(version) AS lo, max(version) AS hi FROM ${s}.instances WHERE batch_aggregate_id = $1`, [`${DB}:bulk-1`])).toEqual([{ n: 1000, lo: 0, hi: 0 }]);
    expect(await rows(`SELECT count(*)::int AS n FROM ${s}.edges WHERE from_id LIKE 'p%'`)).toEqual([{ n: 1999 }]);
    expect(await queries.bulkOrigin(DB, 'p00010')).toEqual({ aggregate_type: 'instance_batch', aggregate_id: `${DB}:bulk-1`, version: 1 });
    expect(await queries.bulkOrigin(DB, 'ada')).toBeNull();
    expect(await queries.getInstance(DB, 'p00010')).toMatchObject({ version: 0, class_id: 'Person' });

    // a bulk instance's first own event is version 1 of its stream, seeded from the batch
    await h.run({ command_type: 'UPDATE_INSTANCE', db_name: DB, payload: { id: 'p00010', properties: { city: 'Nice' } } });
    expect(await queries.getInstance(DB, 'p00010')).toMatchObject({ version: 1, properties: { name: 'Person 10', city: 'Nice' } });
    expect(await queries.bulkOrigin(DB, 'p00010')).toEqual({ aggregate_type: 'instance_batch', aggregate_id: `${DB}:bulk-1`, version: 1 });
  });

  test('paging by keyset cursor, filters by property equality', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await queries.listInstances(DB, { class_id: 'Person', limit: 300, cursor });
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next_cursor ?? undefined;
      if (cursor) expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      pages++;
    } while (cursor);
    // 1000 bulk + ada, bob, cy, dee
    expect(pages).toBe(4);
    expect(seen).toHaveLength(1004);
    expect(new Set(seen).size).toBe(1004);
    expect([...seen].sort()).toEqual(seen);

    const paris = await queries.listInstances(DB, { class_id: 'Person', filter: { city: 'Paris', age: 4 }, limit: 100 });
    expect(paris.items.map((i) => i.id)).toEqual(['p00004', 'p00094', 'p00184', 'p00274', 'p00364', 'p00454', 'p00544', 'p00634', 'p00724', 'p00814', 'p00904', 'p00994']);
    expect((await queries.listInstances(DB, { filter: { name: 'Acme Corp' }, limit: 10 })).items.map((i) => i.id)).toEqual(['acme']);
    expect((await queries.listInstances(DB, { class_id: 'Company', limit: 10 })).items.map((i) => i.id)).toEqual(['acme']);
    // deleted instances never show
    expect((await queries.listInstances(DB, { filter: { name: 'Bob' }, limit: 10 })).items).toEqual([]);

    for (const bad of ['%%%', 'bm90LWpzb24', encodeCursor('x').slice(0, -2) + '!!']) {
      const err = await queries.listInstances(DB, { limit: 10, cursor: bad }).catch((e: unknown) => e);
      expect(isReadModelError(err, 'INVALID_QUERY')).toBe(true);
    }
    const err = await queries.listInstances(DB, { limit: 0 }).catch((e: unknown) => e);
    expect(isReadModelError(err, 'INVALID_QUERY')).toBe(true);
  });

  test('relationships, traversal and full-text search', async () => {
    const rel = await queries.relationships(DB, 'p00005', { limit: 100 });
    expect(rel.outgoing).toEqual([
      { from_id: 'p00005', predicate: 'knows', to_id: 'p00004' },
      { from_id: 'p00005', predicate: 'works_for', to_id: 'acme' },
    ]);
    expect(rel.incoming).toEqual([{ from_id: 'p00006', predicate: 'knows', to_id: 'p00005' }]);
    // a hub's edges come a page at a time, in (direction, predicate, from, to) order, each once
    const hub: string[] = [];
    let cursor: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await queries.relationships(DB, 'acme', { limit: 300, ...(cursor !== undefined ? { cursor } : {}) });
      sizes.push(page.incoming.length + page.outgoing.length);
      hub.push(...page.incoming.map((e) => `${e.predicate}:${e.from_id}`));
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
    expect(sizes).toEqual([300, 300, 300, 102]);
    expect(hub).toHaveLength(1000 + 2 /* ada, bob */);
    expect(new Set(hub).size).toBe(hub.length);
    expect(hub).toEqual([...hub].sort());
    for (const bad of ['%%%', encodeCursor('acme'), encodeCursor(['in', 'x'])]) {
      const e = await queries.relationships(DB, 'acme', { limit: 10, cursor: bad }).catch((x: unknown) => x);
      expect(isReadModelError(e, 'INVALID_QUERY')).toBe(true);
    }

    // the knows-chain p4 <- p5 <- p6 ..., without acme's hub in the way for depth 0/1
    expect((await queries.traverse(DB, 'p00005', 0, 100)).nodes.map((n) => n.id)).toEqual(['p00005']);
    const one = await queries.traverse(DB, 'p00005', 1, 100);
    expect(one.nodes.map((n) => n.id)).toEqual(['p00005', 'acme', 'p00004', 'p00006']);
    expect(one.edges).toEqual(
      expect.arrayContaining([
        { from_id: 'p00005', predicate: 'knows', to_id: 'p00004' },
        { from_id: 'p00006', predicate: 'knows', to_id: 'p00005' },
        { from_id: 'p00004', predicate: 'works_for', to_id: 'acme' },
      ]),
    );
    const ids = new Set(one.nodes.map((n) => n.id));
    for (const e of one.edges) expect(ids.has(e.from_id) && ids.has(e.to_id)).toBe(true);
    // depth 2 reaches everyone through acme, so the node limit is what stops it
    const capped = await queries.traverse(DB, 'p00005', 2, 50);
    expect(capped.nodes).toHaveLength(50);
    expect(capped.nodes.slice(0, 4).map((n) => n.id)).toEqual(['p00005', 'acme', 'p00004', 'p00006']);
    expect(await queries.traverse(DB, 'bob-nobody', 3, 10)).toEqual({ nodes: [], edges: [] });
    const err = await queries.traverse(DB, 'p00005', 6, 10).catch((e: unknown) => e);
    expect(isReadModelError(err, 'INVALID_QUERY')).toBe(true);

    expect((await queries.search(DB, 'quantum gardening', { limit: 10 })).map((i) => i.id)).toEqual(['p00007']);
    expect((await queries.search(DB, '"ada lovelace"', { limit: 10 })).map((i) => i.id)).toEqual(['ada']);
    expect((await queries.search(DB, 'acme', { class_id: 'Company', limit: 10 })).map((i) => i.id)).toEqual(['acme']);
    // the deleted first Bob's data is gone; the live one is "Bob II"
    expect((await queries.search(DB, 'bob', { limit: 10 })).map((i) => i.properties.name)).toEqual(['Bob II']);
    expect(await queries.search(DB, '   ', { limit: 10 })).toEqual([]);
    expect(await queries.search(DB, 'paris -plain', { limit: 5 })).toEqual([]);
  });

  test('DATABASE_DELETED purges the database; late events of the deleted life are dropped, and counted', async () => {
    await h.run({ command_type: 'CREATE_DATABASE', payload: { name: 'lab' } });
    await h.run({ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: 'lab', payload: { id: 'Thing', label: 'Thing', properties: [{ name: 'name', type: 'string' }] } });
    await h.run({ command_type: 'CREATE_INSTANCE', db_name: 'lab', payload: { id: 't1', class_id: 'Thing', properties: { name: 'one' } } });
    await h.run({ command_type: 'BULK_CREATE_INSTANCES', db_name: 'lab', batch_id: 'b1', payload: { class_id: 'Thing', instances: [{ id: 't2' }, { id: 't3' }] } });
    // decided before the deletion, projected after it (a slow workflow)
    const late = await h.decide({ command_type: 'CREATE_INSTANCE', db_name: 'lab', payload: { id: 't4', class_id: 'Thing' } });
    const [deleted] = await h.run({ command_type: 'DELETE_DATABASE', payload: { name: 'lab' } });

    expect(await rows(`SELECT status, version, incarnation, deleted_at FROM ${s}.databases WHERE name = 'lab'`)).toEqual([
      { status: 'deleted', version: 2, incarnation: 1, deleted_at: new Date(deleted.occurred_at) },
    ]);
    for (const t of ['classes', 'instances', 'edges']) {
      expect(await rows(`SELECT count(*)::int AS n FROM ${s}.${t} WHERE db_name = 'lab'`)).toEqual([{ n: 0 }]);
    }
    expect(await projector.apply(late)).toEqual({ applied: 0, skipped: 0, filled: 0, dropped: 1 });
    expect(await queries.getInstance('lab', 't4')).toBeNull();
    expect(await queries.streamVersion('instance', 'lab:t4')).toBe(1);
    expect(await queries.getDatabase('lab')).toBeNull();
    expect((await queries.listDatabases({ limit: 10 })).items.map((d) => d.name)).toEqual([DB]);
    expect(await queries.databaseState('lab')).toMatchObject({ status: 'deleted', version: 2 });
    // the other database is untouched
    expect(await queries.countInstances(DB, 'Person')).toBeGreaterThan(1000);

    await h.run({ command_type: 'CREATE_DATABASE', payload: { name: 'lab', description: 'again' } });
    expect(await queries.getDatabase('lab')).toMatchObject({ version: 3, description: 'again' });
    expect(await queries.databaseState('lab')).toMatchObject({ status: 'active', version: 3, incarnation: 3 });
    expect(await queries.listClasses('lab', { limit: 10 })).toEqual({ items: [], next_cursor: null });
    // classes and databases page by id with the same cursors
    const first = await queries.listClasses(DB, { limit: 2 });
    expect(first.items.map((c) => c.id)).toEqual(['Agent', 'Company']);
    const rest = await queries.listClasses(DB, { limit: 2, cursor: first.next_cursor! });
    expect(rest).toEqual({ items: [expect.objectContaining({ id: 'Person' })], next_cursor: null });
    const dbs = await queries.listDatabases({ limit: 1 });
    expect(dbs.items.map((d) => d.name)).toEqual(['lab']);
    expect((await queries.listDatabases({ limit: 1, cursor: dbs.next_cursor! })).items.map((d) => d.name)).toEqual([DB]);
  });

  test('an event of a life newer than the projected one brings the database stream up to date from the history first', async () => {
    const db = 'lab2';
    await h.run({ command_type: 'CREATE_DATABASE', payload: { name: db } });
    const thing = { id: 'Thing', label: 'Thing', properties: [{ name: 'name', type: 'string' as const }] };
    await h.run({ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: db, payload: thing });
    await h.run({ command_type: 'CREATE_INSTANCE', db_name: db, payload: { id: 't1', class_id: 'Thing', properties: { name: 'one' } } });
    const oldLife = await h.decide({ command_type: 'UPDATE_INSTANCE', db_name: db, payload: { id: 't1', properties: { name: 'ghost' } } });
    // deleted and re-created in the event store; the read models have not seen it yet
    const lifecycle = [...(await h.decide({ command_type: 'DELETE_DATABASE', payload: { name: db } })), ...(await h.decide({ command_type: 'CREATE_DATABASE', payload: { name: db } }))];
    const [recreated] = await h.decide({ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: db, payload: { ...thing, label: 'Thing II' } });
    expect(recreated).toMatchObject({ aggregate_id: `${db}@3:Thing`, payload: { db_incarnation: 3 } });

    // without a history the call fails and changes nothing; its retry (with one) goes through
    const err = await projector.apply([recreated]).catch((e: unknown) => e);
    expect(isReadModelError(err, 'PROJECTION_GAP')).toBe(true);
    expect(await queries.getClass(db, 'Thing')).toMatchObject({ label: 'Thing', version: 1 });
    const history = {
      readStream: async (type: string, id: string, to?: number, from?: number) =>
        h.stream(type, id).filter((e) => (to === undefined || e.aggregate_version <= to) && (from === undefined || e.aggregate_version >= from)),
    };
    const healing = new ReadModelProjector(pool, schema, { history });
    expect(await healing.apply([recreated])).toEqual({ applied: 1, skipped: 0, filled: 2, dropped: 0 });
    expect(await queries.databaseState(db)).toMatchObject({ status: 'active', version: 3, incarnation: 3 });
    expect(await queries.getClass(db, 'Thing')).toMatchObject({ label: 'Thing II', version: 1 });
    expect(await queries.getInstance(db, 't1')).toBeNull();
    expect(await queries.streamVersion('database', db)).toBe(3);

    // the database's own (late) projection finds nothing left to do; the first life's late event is dropped
    expect(await healing.apply(lifecycle)).toEqual({ applied: 0, skipped: 2, filled: 0, dropped: 0 });
    expect(await healing.apply(oldLife)).toEqual({ applied: 0, skipped: 0, filled: 0, dropped: 1 });
    expect(await queries.getInstance(db, 't1')).toBeNull();
    expect(await queries.streamVersion('instance', `${db}:t1`)).toBe(2);
  });

  test('a rebuild from the same events equals the incrementally built models; compare sees tampering', async () => {
    async function* replay(): AsyncIterable<EventEnvelope> {
      yield* h.events;
    }
    await migrateReadModels(pool, rebuilt);
    const result = await rebuildReadModels(pool, rebuilt, replay(), { chunkEvents: 7 });
    expect(result).toMatchObject({ schema: rebuilt, events: h.events.length, applied: h.events.length, skipped: 0 });
    expect(result.chunks).toBeGreaterThan(1);

    const same = await compareReadModels(pool, schema, rebuilt);
    expect(same.tables.filter((t) => t.samples.length > 0)).toEqual([]);
    expect(same.equal).toBe(true);

    const again = await rebuildReadModels(pool, rebuilt, h.events).catch((e: unknown) => e);
    expect(isReadModelError(again, 'REBUILD_TARGET_NOT_EMPTY')).toBe(true);
    expect(await rebuildReadModels(pool, rebuilt, h.events, { resume: true })).toMatchObject({ applied: 0, skipped: h.events.length });

    const r = `"${rebuilt}"`;
    await pool.query(`UPDATE ${r}.instances SET properties = properties || '{"city":"Rome"}' WHERE instance_id = 'ada'`);
    await pool.query(`DELETE FROM ${r}.edges WHERE from_id = 'p00003' AND predicate = 'knows'`);
    await pool.query(`INSERT INTO ${r}.stream_positions VALUES ('instance', 'shop:ghost', 1)`);
    const diff = await compareReadModels(pool, schema, rebuilt);
    expect(diff.equal).toBe(false);
    const byTable = Object.fromEntries(diff.tables.map((t) => [t.table, t]));
    expect(byTable.instances).toMatchObject({ different: 1, missing_in_a: 0, missing_in_b: 0 });
    expect(byTable.instances.samples[0]).toMatchObject({ kind: 'different', key: [DB, 'ada'], a: { properties: { city: 'London' } }, b: { properties: { city: 'Rome' } } });
    expect(byTable.edges).toMatchObject({ different: 0, missing_in_b: 1, samples: [{ kind: 'missing_in_b', key: [DB, 'p00003', 'knows', 'p00002'] }] });
    expect(byTable.stream_positions).toMatchObject({ missing_in_a: 1 });
    expect(byTable.databases).toMatchObject({ different: 0, missing_in_a: 0, missing_in_b: 0 });
  });
});

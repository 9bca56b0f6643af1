/**
 * PostgreSQL caps a tsvector at 1 MB: the search index takes a bounded prefix of an instance's
 * text (SEARCH_INDEX_MAX_CHARS) so that a very long string property is projected, kept whole in
 * the read model and found by its first words, instead of failing its projection forever.
 */
import { createOwnerPool } from '../../src/adapters/postgres/postgres';
import { PgReadModelQueries, ReadModelProjector } from '../../src/adapters/postgres/read-models';
import { testConfig, uniqueName } from '../support/env';
import { eventFactory, ReadModelsFixture, startReadModels } from '../support/read-models';

const DB = 'searchdb';

/** About 1.5 MB of distinct words: w0 w1 ... in base 36. */
function longText(bytes = 1_500_000): { text: string; words: string[] } {
  const words: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const w = `w${i.toString(36)}`;
    words.push(w);
    size += w.length + 1;
  }
  return { text: words.join(' '), words };
}

const event = eventFactory('search-cmd');

describe('read models: the search index of very long text', () => {
  let projector: ReadModelProjector;
  let queries: PgReadModelQueries;
  let rm: ReadModelsFixture;
  const schema = uniqueName('rm-search');
  const { text, words } = longText();

  beforeAll(async () => {
    const definition = {
      id: 'Doc',
      label: 'Doc',
      properties: [
        { name: 'title', type: 'string' },
        { name: 'body', type: 'string' },
      ],
      relationships: [],
    };
    rm = await startReadModels(schema, DB, definition, event);
    ({ projector, queries } = rm);
  });

  afterAll(async () => {
    await rm?.close();
  });

  test('a 1.5 MB property of distinct words: projected whole, found by its first words and by its short neighbours', async () => {
    expect(Buffer.byteLength(text)).toBeGreaterThanOrEqual(1_499_000);
    const instance = { id: 'huge', class_id: 'Doc', properties: { title: 'zebra crossing', body: text }, relationships: {} };
    await expect(projector.apply([event('INSTANCE_CREATED', 'instance', `${DB}:huge`, 1, { db_name: DB, instance })])).resolves.toMatchObject({ applied: 1 });

    const stored = await queries.getInstance(DB, 'huge');
    expect((stored?.properties.body as string).length).toBe(text.length);
    expect(stored?.properties.body).toBe(text);
    for (const q of [words[0], words[1000], 'zebra']) expect((await queries.search(DB, q, { limit: 5 })).map((i) => i.id)).toEqual(['huge']);
    // Beyond the prefix a word is not indexed: the bound is a prefix, not a sample.
    expect(await queries.search(DB, words[words.length - 1], { limit: 5 })).toEqual([]);

    // An update that shortens the text is indexed again in full.
    const shorter = { ...instance, properties: { title: 'zebra crossing', body: 'tail words only' } };
    await projector.apply([event('INSTANCE_UPDATED', 'instance', `${DB}:huge`, 2, { db_name: DB, instance: shorter })]);
    expect((await queries.search(DB, 'tail', { limit: 5 })).map((i) => i.id)).toEqual(['huge']);
    expect(await queries.search(DB, words[0], { limit: 5 })).toEqual([]);
  });

  test('a bulk batch holding one such instance is projected whole: every instance visible and searchable', async () => {
    const instances = [
      { id: 'b-huge', class_id: 'Doc', properties: { title: 'okapi', body: text }, relationships: {} },
      ...Array.from({ length: 50 }, (_, i) => ({ id: `b-${i}`, class_id: 'Doc', properties: { title: `small ${i} okapi` }, relationships: {} })),
    ];
    const batch = event('INSTANCES_BULK_CREATED', 'instance_batch', `${DB}:big-batch`, 1, {
      db_name: DB,
      batch_id: 'big-batch',
      class_id: 'Doc',
      batch_index: 0,
      batch_count: 1,
      instances,
    });
    await expect(projector.apply([batch])).resolves.toMatchObject({ applied: 1 });
    expect((await queries.getInstance(DB, 'b-huge'))?.properties.body).toBe(text);
    expect((await queries.search(DB, 'okapi', { limit: 100 })).map((i) => i.id).sort()).toEqual(instances.map((i) => i.id).sort());
    expect((await queries.search(DB, words[2], { limit: 5 })).map((i) => i.id).sort()).toEqual(['b-huge']);
  });

  test('SEARCH_INDEX_MAX_CHARS sets the prefix, per connection pool', async () => {
    const small = createOwnerPool({ ...testConfig, SEARCH_INDEX_MAX_CHARS: 1000 }, { max: 1 });
    try {
      const body = words.slice(0, 400).join(' '); // about 2,000 characters
      const instance = { id: 'capped', class_id: 'Doc', properties: { body }, relationships: {} };
      await new ReadModelProjector(small, schema).apply([event('INSTANCE_CREATED', 'instance', `${DB}:capped`, 1, { db_name: DB, instance })]);
      expect((await queries.search(DB, words[10], { limit: 5 })).map((i) => i.id)).toContain('capped');
      expect((await queries.search(DB, words[399], { limit: 5 })).map((i) => i.id)).not.toContain('capped');
    } finally {
      await small.end();
    }
  });
});

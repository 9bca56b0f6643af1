/**
 * Bulk throughput of the projection: 100,000 instances in 100 INSTANCES_BULK_CREATED events (the
 * domain's default batch size), projected one event per call as the command workflow does.
 */
import type { Pool } from 'pg';
import { createOwnerPool } from '../../src/adapters/postgres/postgres';
import { envelopeOf } from '../../src/contracts/event-envelope';
import { PgReadModelQueries, ReadModelProjector, dropReadModels, migrateReadModels } from '../../src/adapters/postgres/read-models';
import { CommandInput, decide } from '../../src/domain';
import { testConfig, uniqueName } from '../support/env';

const DB = 'bulkdb';
const N = 100_000;

describe('read models: bulk throughput', () => {
  let pool: Pool;
  const schema = uniqueName('rm-bulk');

  beforeAll(async () => {
    pool = createOwnerPool(testConfig, { max: 4 });
    await migrateReadModels(pool, schema);
  });

  afterAll(async () => {
    await dropReadModels(pool, schema);
    await pool.end();
  });

  test(`${N.toLocaleString('en')} instances are projected well under 60 s`, async () => {
    const projector = new ReadModelProjector(pool, schema);
    const queries = new PgReadModelQueries(pool, schema);
    let commands = 0;
    const run = async (command: CommandInput) => {
      const ctx = { database: await queries.databaseState(DB), classes: await queries.classCatalog(DB), targets: {} };
      const result = decide(command, undefined, ctx);
      if (!result.ok) throw new Error(JSON.stringify(result.error));
      const commandId = `bulk-cmd-${++commands}`;
      const occurredAt = new Date().toISOString();
      return result.events.map((d, i) => envelopeOf<unknown>(d, { commandId, position: i, version: i + 1, occurredAt, actor: 'bench', storageMode: 's3_only' }));
    };
    await projector.apply(await run({ command_type: 'CREATE_DATABASE', payload: { name: DB } }));
    await projector.apply(
      await run({
        command_type: 'CREATE_ONTOLOGY_CLASS',
        db_name: DB,
        payload: {
          id: 'Item',
          label: 'Item',
          properties: [
            { name: 'title', type: 'string', required: true },
            { name: 'rank', type: 'integer' },
          ],
          relationships: [{ predicate: 'next', target_class: 'Item', cardinality: 'n:1' }],
        },
      }),
    );

    const instances = Array.from({ length: N }, (_, i): { id: string; properties: Record<string, unknown>; relationships: Record<string, string> } => ({
      id: `item-${i}`,
      properties: { title: `Item number ${i} of the catalogue`, rank: i },
      relationships: i + 1 < N ? { next: `item-${i + 1}` } : {},
    }));
    const events = await run({ command_type: 'BULK_CREATE_INSTANCES', db_name: DB, batch_id: 'big', payload: { class_id: 'Item', instances } });
    expect(events).toHaveLength(100);

    const started = Date.now();
    for (const e of events) await projector.apply([e]);
    const elapsed = Date.now() - started;
    console.log(`projected ${N} instances in ${elapsed} ms (${Math.round(N / (elapsed / 1000))}/s)`);
    expect(elapsed).toBeLessThan(30_000);

    const s = `"${schema}"`;
    expect((await pool.query(`SELECT count(*)::int AS n FROM ${s}.instances WHERE db_name = $1`, [DB])).rows[0].n).toBe(N);
    expect((await pool.query(`SELECT count(*)::int AS n FROM ${s}.edges WHERE db_name = $1`, [DB])).rows[0].n).toBe(N - 1);
    expect(await queries.bulkOrigin(DB, 'item-99999')).toEqual({ aggregate_type: 'instance_batch', aggregate_id: `${DB}:big`, version: 100 });
    expect((await queries.search(DB, '54321', { limit: 5 })).map((i) => i.id)).toEqual(['item-54321']);
    expect((await queries.listInstances(DB, { filter: { rank: 777 }, limit: 5 })).items.map((i) => i.id)).toEqual(['item-777']);
    expect(await projector.apply(events)).toEqual({ applied: 0, skipped: 100, filled: 0, dropped: 0 });
  });
});

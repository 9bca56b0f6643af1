/** Read models in a schema of their own, with a database and one class projected, for int tests of the projector. */
import type { Pool } from 'pg';
import { createOwnerPool } from '../../src/adapters/postgres/postgres';
import { envelopeOf, EventEnvelope } from '../../src/contracts/event-envelope';
import { PgReadModelQueries, ReadModelProjector, dropReadModels, migrateReadModels } from '../../src/adapters/postgres/read-models';
import { testConfig } from './env';

export type EventFactory = (eventType: string, aggregateType: string, aggregateId: string, version: number, payload: unknown) => EventEnvelope;

/** Envelopes as a command would store them, each with a command id of its own under `prefix`. */
export function eventFactory(prefix: string): EventFactory {
  let commands = 0;
  return (eventType, aggregateType, aggregateId, version, payload) =>
    envelopeOf<unknown>(
      { event_type: eventType, aggregate_type: aggregateType, aggregate_id: aggregateId, payload },
      { commandId: `${prefix}-${++commands}`, position: 0, version, occurredAt: new Date().toISOString(), actor: 'test', storageMode: 's3_only' },
    );
}

export interface ReadModelsFixture {
  pool: Pool;
  projector: ReadModelProjector;
  queries: PgReadModelQueries;
  close(): Promise<void>;
}

/** Migrates `schema` and projects DATABASE_CREATED for `db` and ONTOLOGY_CLASS_CREATED for `definition`. */
export async function startReadModels(schema: string, db: string, definition: { id: string }, event: EventFactory): Promise<ReadModelsFixture> {
  const pool = createOwnerPool(testConfig, { max: 4 });
  await migrateReadModels(pool, schema);
  const projector = new ReadModelProjector(pool, schema);
  const queries = new PgReadModelQueries(pool, schema);
  await projector.apply([event('DATABASE_CREATED', 'database', db, 1, { name: db })]);
  await projector.apply([event('ONTOLOGY_CLASS_CREATED', 'ontology_class', `${db}:${definition.id}`, 1, { db_name: db, definition })]);
  return {
    pool,
    projector,
    queries,
    close: async () => {
      await dropReadModels(pool, schema);
      await pool.end();
    },
  };
}

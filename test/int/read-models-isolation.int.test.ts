/**
 * One stream the read models cannot take does not hold back the others in the same call, and
 * stops at its failing event: the events before it are applied, the ones after it wait.
 */
import type { PgReadModelQueries, ReadModelProjector } from '../../src/adapters/postgres/read-models';
import { StreamsNotProjectedError } from '../../src/ports/projector';
import { uniqueName } from '../support/env';
import { eventFactory, ReadModelsFixture, startReadModels } from '../support/read-models';

const DB = 'isodb';
const event = eventFactory('iso-cmd');
const put = (type: 'INSTANCE_CREATED' | 'INSTANCE_UPDATED', id: string, version: number, v: string) =>
  event(type, 'instance', `${DB}:${id}`, version, { db_name: DB, instance: { id, class_id: 'K', properties: { v }, relationships: {} } });

describe('read models: per-stream isolation', () => {
  let projector: ReadModelProjector;
  let queries: PgReadModelQueries;
  let rm: ReadModelsFixture;

  beforeAll(async () => {
    const definition = { id: 'K', label: 'K', properties: [{ name: 'v', type: 'string' }], relationships: [] };
    rm = await startReadModels(uniqueName('rm-iso'), DB, definition, event);
    ({ projector, queries } = rm);
  });

  afterAll(async () => {
    await rm?.close();
  });

  test('a poisoned v2 stops its stream after v1; the other streams of the call are applied', async () => {
    const events = [
      put('INSTANCE_CREATED', 'a', 1, 'a1'),
      put('INSTANCE_CREATED', 'b', 1, 'b1'),
      put('INSTANCE_UPDATED', 'a', 2, 'a\u0000'),
      event('INSTANCE_CREATED', 'instance', `${DB}:c`, 1, { db_name: DB }), // not an instance event the projector can read
      put('INSTANCE_UPDATED', 'a', 3, 'a3'),
      put('INSTANCE_UPDATED', 'b', 2, 'b2'),
    ];
    const err = await projector.apply(events).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamsNotProjectedError);
    const failure = err as StreamsNotProjectedError;
    expect(failure.failures.map((f) => [f.aggregate_id, f.aggregate_version, f.code])).toEqual([
      [`${DB}:a`, 2, 'EVENT_NOT_PROJECTABLE'],
      [`${DB}:c`, 1, 'INVALID_EVENT'],
    ]);
    expect(failure.message).not.toMatch(/unsupported Unicode/);
    expect(failure.result.applied).toBe(3); // a v1, b v1, b v2

    expect(await queries.getInstance(DB, 'a')).toMatchObject({ version: 1, properties: { v: 'a1' } });
    expect(await queries.getInstance(DB, 'b')).toMatchObject({ version: 2, properties: { v: 'b2' } });
    expect(await queries.getInstance(DB, 'c')).toBeNull();

    // A call again applies nothing twice and fails the same streams the same way.
    const again = (await projector.apply(events).catch((e: unknown) => e)) as StreamsNotProjectedError;
    expect(again.failures).toHaveLength(2);
    expect(again.result.applied).toBe(0);
  });
});

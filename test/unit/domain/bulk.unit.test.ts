import { DEFAULT_BATCH_SIZE, DomainEvent, EventPayloads, aggregateStateFrom, decide, instanceStateFromBatch } from '../../../src/domain';
import { DB, activeDb, classes, given, instanceContext } from './given-when-then';

const person = (id: string, extra: Record<string, unknown> = {}) => ({ id, properties: { name: id, ...extra }, relationships: {} });
const bulk = (instances: unknown[], class_id = 'Person', batch_id = 'cmd-1') => ({
  command_type: 'BULK_CREATE_INSTANCES',
  db_name: DB,
  batch_id,
  payload: { class_id, instances },
});
const payloadOf = (e: DomainEvent) => e.payload as EventPayloads['INSTANCES_BULK_CREATED'];

describe('BULK_CREATE_INSTANCES', () => {
  it('records a small bulk in one event on the batch stream', () => {
    given()
      .when(bulk([person('p1'), person('p2', { age: 3 })]), instanceContext())
      .thenEvents([
        {
          event_type: 'INSTANCES_BULK_CREATED',
          aggregate_type: 'instance_batch',
          aggregate_id: `${DB}:cmd-1`,
          payload: {
            db_name: DB,
            db_incarnation: 1,
            batch_id: 'cmd-1',
            class_id: 'Person',
            batch_index: 0,
            batch_count: 1,
            instances: [
              { id: 'p1', class_id: 'Person', properties: { name: 'p1' }, relationships: {} },
              { id: 'p2', class_id: 'Person', properties: { name: 'p2', age: 3 }, relationships: {} },
            ],
          },
        },
      ]);
  });

  it('splits into events of at most batchSize instances, in order', () => {
    const items = Array.from({ length: 7 }, (_, i) => person(`p${i}`));
    const events = given().when(bulk(items), instanceContext(), { batchSize: 3 }).events();
    expect(events.map((e) => payloadOf(e).instances.map((i) => i.id))).toEqual([['p0', 'p1', 'p2'], ['p3', 'p4', 'p5'], ['p6']]);
    expect(events.map((e) => [payloadOf(e).batch_index, payloadOf(e).batch_count])).toEqual([
      [0, 3],
      [1, 3],
      [2, 3],
    ]);
  });

  it('uses batches of 1000 by default', () => {
    expect(DEFAULT_BATCH_SIZE).toBe(1000);
    const items = Array.from({ length: 2500 }, (_, i) => person(`p${i}`));
    const events = given().when(bulk(items), instanceContext()).events();
    expect(events.map((e) => payloadOf(e).instances.length)).toEqual([1000, 1000, 500]);
  });

  it('emits exactly one event when the size equals batchSize', () => {
    const items = Array.from({ length: 4 }, (_, i) => person(`p${i}`));
    expect(given().when(bulk(items), instanceContext(), { batchSize: 4 }).events()).toHaveLength(1);
  });

  it('refuses a non-positive batch size as a programming error', () => {
    expect(() => given().when(bulk([person('p1')]), instanceContext(), { batchSize: 0 })).toThrow(RangeError);
  });

  it('lets instances of the same bulk refer to each other', () => {
    const items = [
      { id: 'a', properties: { name: 'A' }, relationships: { friends: ['b'] } },
      { id: 'b', properties: { name: 'B' }, relationships: { spouse: 'a', employer: 'acme' } },
    ];
    expect(given().when(bulk(items), instanceContext({ acme: { class_id: 'Company' } })).result.ok).toBe(true);
  });

  it('refuses the whole bulk when any instance is invalid, reporting all violations with their index', () => {
    const items = [person('ok1'), person('bad1', { age: 'x' }), person('ok2'), { id: 'bad2', properties: {}, relationships: { employer: 'nope' } }];
    given()
      .when(bulk(items), instanceContext())
      .thenError('VALIDATION_FAILED', [
        { path: 'instances[1].properties.age' },
        { path: 'instances[3].properties.name' },
        { path: 'instances[3].relationships.employer', message: "'nope' does not exist" },
      ]);
  });

  it('refuses ids that already exist with INSTANCE_EXISTS', () => {
    given()
      .when(bulk([person('p1'), person('p2')]), instanceContext({ p2: { class_id: 'Person' } }))
      .thenError('INSTANCE_EXISTS', [{ path: 'instances[1].id' }]);
  });

  it('accepts ids of deleted instances', () => {
    expect(given().when(bulk([person('p1')]), instanceContext({ p1: { class_id: 'Person', deleted: true } })).result.ok).toBe(true);
  });

  it('refuses duplicate ids inside the bulk', () => {
    given()
      .when(bulk([person('p1'), person('p1')]), instanceContext())
      .thenError('INVALID_COMMAND', [{ path: 'payload.instances[1].id' }]);
  });

  it('refuses an empty bulk', () => {
    given().when(bulk([]), instanceContext()).thenError('INVALID_COMMAND');
  });

  it('refuses a missing batch id', () => {
    const { batch_id: _b, ...command } = bulk([person('p1')]);
    given()
      .when(command, instanceContext())
      .thenError('INVALID_COMMAND', [{ path: 'batch_id' }]);
  });

  it('refuses an abstract class', () => {
    given()
      .when(bulk([person('p1')], 'Thing'), instanceContext())
      .thenError('ABSTRACT_CLASS');
  });

  it('refuses an unknown class', () => {
    given()
      .when(bulk([person('p1')], 'Robot'), instanceContext())
      .thenError('CLASS_NOT_FOUND');
  });

  it('refuses when the database does not exist', () => {
    given()
      .when(bulk([person('p1')]), { classes, targets: {} })
      .thenError('DATABASE_NOT_FOUND');
  });

  it('refuses a batch that was already recorded', () => {
    const events = given()
      .when(bulk([person('p1')]), instanceContext())
      .events();
    given(...events)
      .when(bulk([person('p9')]), instanceContext())
      .thenError('BATCH_EXISTS');
  });

  it('folds into a batch state and seeds the state of each created instance', () => {
    const items = Array.from({ length: 5 }, (_, i) => person(`p${i}`));
    const events = given().when(bulk(items), { database: activeDb, classes, targets: {} }, { batchSize: 2 }).events();
    expect(aggregateStateFrom(events, 'instance_batch')).toEqual({
      aggregate_type: 'instance_batch',
      version: 3,
      status: 'active',
      db_name: DB,
      batch_id: 'cmd-1',
      class_id: 'Person',
      batch_count: 3,
      batches_recorded: 3,
      instance_count: 5,
    });
    const seeded = instanceStateFromBatch(events[1], 'p3');
    expect(seeded).toEqual({
      aggregate_type: 'instance',
      version: 0,
      status: 'active',
      db_name: DB,
      instance: { id: 'p3', class_id: 'Person', properties: { name: 'p3' }, relationships: {} },
    });
    expect(instanceStateFromBatch(events[1], 'p0')).toBeUndefined();
    // the seeded state can be updated like any instance
    const update = { command_type: 'UPDATE_INSTANCE', db_name: DB, payload: { id: 'p3', properties: { age: 9 } } };
    expect(given().when(update, instanceContext()).result.ok).toBe(false);
    expect(decide(update, seeded, instanceContext()).ok).toBe(true);
  });
});

/**
 * Issue 8, item 5: the lifecycle model. A database's life (incarnation) is the version of its
 * DATABASE_CREATED; classes, instances and batches live on streams of one life and every event
 * says which; only an active database takes commands, deletes included; and an instance is found
 * through its own class only.
 */
import {
  DomainEvent,
  FIRST_INCARNATION,
  InstanceData,
  batchAggregateId,
  classAggregateId,
  contextNeeds,
  databaseScope,
  decide,
  incarnationFor,
  incarnationOfEvent,
  instanceAggregateId,
  instanceStateFromBatch,
  splitAggregateId,
  streamOf,
} from '../../../src/domain';
import { DB, Person, activeDb, classes, deletedDb, given, recreatedDb } from './given-when-then';

const alice: InstanceData = { id: 'alice', class_id: 'Person', properties: { name: 'Alice' }, relationships: {} };
const aliceCreated: DomainEvent = {
  event_type: 'INSTANCE_CREATED',
  aggregate_type: 'instance',
  aggregate_id: `${DB}:alice`,
  payload: { db_name: DB, db_incarnation: 1, instance: alice },
};
const personCreated: DomainEvent = {
  event_type: 'ONTOLOGY_CLASS_CREATED',
  aggregate_type: 'ontology_class',
  aggregate_id: `${DB}:Person`,
  payload: { db_name: DB, db_incarnation: 1, definition: Person },
};
const createClass = { command_type: 'CREATE_ONTOLOGY_CLASS', db_name: DB, payload: Person };
const updateClass = { command_type: 'UPDATE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Person', label: 'Human' } };
const deleteClass = { command_type: 'DELETE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Person', force: true } };
const createInstance = { command_type: 'CREATE_INSTANCE', db_name: DB, payload: alice };
const updateInstance = (class_id?: string) => ({ command_type: 'UPDATE_INSTANCE', db_name: DB, payload: { id: 'alice', properties: { name: 'Al' }, ...(class_id ? { class_id } : {}) } });
const deleteInstance = (class_id?: string) => ({ command_type: 'DELETE_INSTANCE', db_name: DB, payload: { id: 'alice', ...(class_id ? { class_id } : {}) } });
const bulk = { command_type: 'BULK_CREATE_INSTANCES', db_name: DB, batch_id: 'b1', payload: { class_id: 'Person', instances: [{ id: 'p1', properties: { name: 'P' } }] } };

describe('stream ids carry the database life', () => {
  it('keeps the ids of the first life and names later lives db@N', () => {
    expect(FIRST_INCARNATION).toBe(1);
    expect(databaseScope(DB, 1)).toBe(DB);
    expect(classAggregateId(DB, 'Person', 1)).toBe('shop:Person');
    expect(instanceAggregateId(DB, 'a:b.c', 1)).toBe('shop:a:b.c');
    expect(classAggregateId(DB, 'Person', 3)).toBe('shop@3:Person');
    expect(instanceAggregateId(DB, 'a:b.c', 3)).toBe('shop@3:a:b.c');
    expect(batchAggregateId(DB, 'b1', 5)).toBe('shop@5:b1');
  });

  it('splits every id back into database, life and local id', () => {
    expect(splitAggregateId('shop:a:b')).toEqual({ db: DB, id: 'a:b', incarnation: 1 });
    expect(splitAggregateId('shop@3:a@b:c')).toEqual({ db: DB, id: 'a@b:c', incarnation: 3 });
    expect(splitAggregateId('shop')).toEqual({ db: DB, id: '', incarnation: 1 });
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses incarnation %p', (n) => {
    expect(() => databaseScope(DB, n)).toThrow(RangeError);
  });

  it('reads the life of a stored event from its payload; events older than lives belong to the first', () => {
    expect(incarnationOfEvent(aliceCreated)).toBe(1);
    expect(incarnationOfEvent({ payload: { db_name: DB, db_incarnation: 7 } })).toBe(7);
    expect(incarnationOfEvent({ payload: { db_name: DB } })).toBe(1);
    expect(incarnationOfEvent({ payload: { db_incarnation: 'x' } })).toBe(1);
    expect(incarnationOfEvent({ payload: null })).toBe(1);
  });
});

describe('the database stream knows its life', () => {
  it('is the version of DATABASE_CREATED, kept after the deletion, renewed by a re-creation', () => {
    expect(activeDb).toMatchObject({ status: 'active', incarnation: 1 });
    expect(deletedDb).toMatchObject({ status: 'deleted', version: 2, incarnation: 1 });
    expect(recreatedDb).toMatchObject({ status: 'active', version: 3, incarnation: 3 });
    expect(incarnationFor(recreatedDb)).toBe(3);
    expect(incarnationFor(undefined)).toBe(1);
  });

  it('says which stream a command meets: its database is loaded first', () => {
    for (const command of [createClass, updateClass, deleteClass, createInstance, updateInstance(), deleteInstance(), bulk]) {
      expect(contextNeeds(command as never).database).toBe(DB);
    }
    expect(streamOf(createInstance as never, incarnationFor(recreatedDb))).toEqual({ aggregate_type: 'instance', aggregate_id: 'shop@3:alice' });
  });
});

describe('in a re-created database', () => {
  const ctx = { database: recreatedDb, classes, targets: {} };

  it('creates a class on the fresh stream of the new life', () => {
    given()
      .when(createClass, ctx)
      .thenEvents([
        {
          event_type: 'ONTOLOGY_CLASS_CREATED',
          aggregate_type: 'ontology_class',
          aggregate_id: 'shop@3:Person',
          payload: { db_name: DB, db_incarnation: 3, definition: Person },
        },
      ]);
  });

  it('creates, updates and deletes an instance on the stream of the new life; every event names the life', () => {
    const [created] = given().when(createInstance, ctx).events();
    expect(created).toMatchObject({ aggregate_id: 'shop@3:alice', payload: { db_name: DB, db_incarnation: 3 } });
    const [updated] = given(created).when(updateInstance('Person'), ctx).events();
    expect(updated).toMatchObject({ event_type: 'INSTANCE_UPDATED', aggregate_id: 'shop@3:alice', payload: { db_incarnation: 3, instance: { properties: { name: 'Al' } } } });
    const [deleted] = given(created, updated).when(deleteInstance('Person'), ctx).events();
    expect(deleted).toMatchObject({ event_type: 'INSTANCE_DELETED', aggregate_id: 'shop@3:alice', payload: { db_incarnation: 3 } });
  });

  it('records bulk batches on a batch stream of the new life', () => {
    const [batch] = given().when(bulk, ctx).events();
    expect(batch).toMatchObject({ aggregate_id: 'shop@3:b1', payload: { db_name: DB, db_incarnation: 3, batch_id: 'b1' } });
  });

  it('finds nothing on the fresh streams: the first life is unreachable', () => {
    given().when(updateClass, ctx).thenError('CLASS_NOT_FOUND');
    given().when(deleteClass, ctx).thenError('CLASS_NOT_FOUND');
    given().when(updateInstance(), ctx).thenError('INSTANCE_NOT_FOUND');
    given().when(deleteInstance(), ctx).thenError('INSTANCE_NOT_FOUND');
  });
});

describe('a deleted database takes no command on its classes, instances or batches', () => {
  const ctx = { database: deletedDb, classes, targets: {} };

  it.each([
    ['CREATE_ONTOLOGY_CLASS', [], createClass],
    ['UPDATE_ONTOLOGY_CLASS', [personCreated], updateClass],
    ['DELETE_ONTOLOGY_CLASS', [personCreated], deleteClass],
    ['CREATE_INSTANCE', [], createInstance],
    ['UPDATE_INSTANCE', [aliceCreated], updateInstance()],
    ['DELETE_INSTANCE', [aliceCreated], deleteInstance()],
    ['BULK_CREATE_INSTANCES', [], bulk],
  ] as const)('%s, even on a stream still active in the deleted life', (_type, history, command) => {
    given(...history)
      .when(command, ctx)
      .thenError('DATABASE_NOT_FOUND');
    given(...history)
      .when(command, { ...ctx, database: undefined })
      .thenError('DATABASE_NOT_FOUND');
  });
});

describe('an instance is found through its own class only', () => {
  const ctx = { database: activeDb, classes, targets: {} };

  it.each([
    ['UPDATE_INSTANCE', updateInstance],
    ['DELETE_INSTANCE', deleteInstance],
  ] as const)('%s through another class is INSTANCE_NOT_FOUND', (_type, command) => {
    for (const other of ['Company', 'Employee', 'Nobody']) {
      const error = given(aliceCreated)
        .when(command(other), ctx)
        .thenError('INSTANCE_NOT_FOUND', [{ path: 'class_id', message: `not of class '${other}'` }]);
      expect(error.status).toBe(404);
    }
  });

  it.each([
    ['UPDATE_INSTANCE', updateInstance, 'INSTANCE_UPDATED'],
    ['DELETE_INSTANCE', deleteInstance, 'INSTANCE_DELETED'],
  ] as const)('%s through its own class, or without a class (commands older than the check), goes ahead', (_type, command, eventType) => {
    expect(
      given(aliceCreated)
        .when(command('Person'), ctx)
        .events()
        .map((e) => e.event_type),
    ).toEqual([eventType]);
    expect(
      given(aliceCreated)
        .when(command(), ctx)
        .events()
        .map((e) => e.event_type),
    ).toEqual([eventType]);
  });

  it('applies to instances created in bulk (state seeded from their batch)', () => {
    const [batch] = given().when(bulk, ctx).events();
    const seeded = instanceStateFromBatch(batch, 'p1');
    const update = { command_type: 'UPDATE_INSTANCE', db_name: DB, payload: { id: 'p1', properties: { name: 'Q' }, class_id: 'Company' } };
    const result = decide(update, seeded, ctx);
    expect(result).toMatchObject({ ok: false, error: { code: 'INSTANCE_NOT_FOUND' } });
    expect(decide({ ...update, payload: { ...update.payload, class_id: 'Person' } }, seeded, ctx).ok).toBe(true);
  });

  it('refuses a malformed class id in the command', () => {
    given(aliceCreated)
      .when(deleteInstance('../x'), ctx)
      .thenError('INVALID_COMMAND', [{ path: 'payload.class_id' }]);
  });
});

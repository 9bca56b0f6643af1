import { DomainEvent, InstanceData } from '../../../src/domain';
import { DB, activeDb, classes, given, instanceContext } from './given-when-then';

const createCmd = (payload: object) => ({ command_type: 'CREATE_INSTANCE', db_name: DB, payload });
const updateCmd = (payload: object) => ({ command_type: 'UPDATE_INSTANCE', db_name: DB, payload });
const deleteCmd = (id: string) => ({ command_type: 'DELETE_INSTANCE', db_name: DB, payload: { id } });

const alice: InstanceData = {
  id: 'alice',
  class_id: 'Person',
  properties: { name: 'Alice', age: 30, tags: ['a'] },
  relationships: { employer: 'acme', friends: ['bob'] },
};
const aliceCreated: DomainEvent = {
  event_type: 'INSTANCE_CREATED',
  aggregate_type: 'instance',
  aggregate_id: `${DB}:alice`,
  payload: { db_name: DB, db_incarnation: 1, instance: alice },
};
const inDb = { database: activeDb };
const targets = { acme: { class_id: 'Company' }, bob: { class_id: 'Person' }, carol: { class_id: 'Employee' } };

describe('CREATE_INSTANCE', () => {
  it('creates an instance', () => {
    given().when(createCmd(alice), instanceContext(targets)).thenEvents([aliceCreated]);
  });

  it('normalises a single id for a to-many relationship into an array and drops null properties', () => {
    const [event] = given()
      .when(createCmd({ ...alice, properties: { name: 'Alice', age: null }, relationships: { friends: 'bob' } }), instanceContext(targets))
      .events();
    expect(event.payload).toEqual({
      db_name: DB,
      db_incarnation: 1,
      instance: { id: 'alice', class_id: 'Person', properties: { name: 'Alice' }, relationships: { friends: ['bob'] } },
    });
  });

  it('defaults properties and relationships when the class requires nothing', () => {
    const Tag = { id: 'Tag', label: 'Tag', abstract: false, properties: [], relationships: [] };
    const [event] = given()
      .when(createCmd({ id: 't1', class_id: 'Tag' }), { database: activeDb, classes: { Tag }, targets: {} })
      .events();
    expect(event.payload).toEqual({ db_name: DB, db_incarnation: 1, instance: { id: 't1', class_id: 'Tag', properties: {}, relationships: {} } });
  });

  it('allows an instance to point at itself', () => {
    const result = given().when(createCmd({ ...alice, relationships: { friends: ['alice'] } }), instanceContext({})).result;
    expect(result.ok).toBe(true);
  });

  it('refuses when the database does not exist', () => {
    given().when(createCmd(alice), { classes, targets }).thenError('DATABASE_NOT_FOUND');
  });

  it('refuses an existing instance', () => {
    given(aliceCreated).when(createCmd(alice), instanceContext(targets)).thenError('INSTANCE_EXISTS');
  });

  it('refuses an id taken by a bulk-created instance (empty stream, known to the context)', () => {
    given()
      .when(createCmd(alice), instanceContext({ ...targets, alice: { class_id: 'Person' } }))
      .thenError('INSTANCE_EXISTS');
  });

  it('allows re-using the id of a deleted instance', () => {
    const deleted: DomainEvent = {
      event_type: 'INSTANCE_DELETED',
      aggregate_type: 'instance',
      aggregate_id: `${DB}:alice`,
      payload: { db_name: DB, db_incarnation: 1, instance_id: 'alice', class_id: 'Person' },
    };
    const context = instanceContext({ ...targets, alice: { class_id: 'Person', deleted: true } });
    expect(given(aliceCreated, deleted).when(createCmd(alice), context).result.ok).toBe(true);
  });

  it('refuses an unknown class', () => {
    const error = given()
      .when(createCmd({ ...alice, class_id: 'Robot' }), instanceContext(targets))
      .thenError('CLASS_NOT_FOUND');
    expect(error.status).toBe(404);
  });

  it('does not resolve class ids through the prototype chain', () => {
    given()
      .when(createCmd({ ...alice, class_id: 'constructor' }), instanceContext(targets))
      .thenError('CLASS_NOT_FOUND');
  });

  it('refuses an abstract class', () => {
    given()
      .when(createCmd({ ...alice, class_id: 'Thing', relationships: {} }), instanceContext(targets))
      .thenError('ABSTRACT_CLASS');
  });

  it.each(['', '-x', 'a/b', '../x', 'a b', 'x'.repeat(129)])('refuses the instance id %j', (id) => {
    given()
      .when(createCmd({ ...alice, id }), instanceContext(targets))
      .thenError('INVALID_COMMAND', [{ path: 'payload.id' }]);
  });

  it('refuses a missing instance id (ids are assigned before the command is built)', () => {
    const { id: _id, ...withoutId } = alice;
    given()
      .when(createCmd(withoutId), instanceContext(targets))
      .thenError('INVALID_COMMAND', [{ path: 'payload.id' }]);
  });
});

describe('UPDATE_INSTANCE', () => {
  it('applies a partial change and carries the change and the full new state', () => {
    given(aliceCreated)
      .when(updateCmd({ id: 'alice', properties: { age: 31, tags: null }, relationships: { spouse: 'bob', employer: null } }), instanceContext(targets))
      .thenEvents([
        {
          event_type: 'INSTANCE_UPDATED',
          aggregate_type: 'instance',
          aggregate_id: `${DB}:alice`,
          payload: {
            db_name: DB,
            db_incarnation: 1,
            changes: { properties: { age: 31, tags: null }, relationships: { spouse: 'bob', employer: null } },
            instance: {
              id: 'alice',
              class_id: 'Person',
              properties: { name: 'Alice', age: 31 },
              relationships: { friends: ['bob'], spouse: 'bob' },
            },
          },
        },
      ]);
  });

  it('does not need the targets of untouched relationships', () => {
    const result = given(aliceCreated).when(updateCmd({ id: 'alice', properties: { age: 32 } }), instanceContext({})).result;
    expect(result.ok).toBe(true);
  });

  it('checks the targets of changed relationships', () => {
    given(aliceCreated)
      .when(updateCmd({ id: 'alice', relationships: { friends: ['bob', 'zed'] } }), instanceContext(targets))
      .thenError('VALIDATION_FAILED', [{ path: 'relationships.friends[1]', message: "'zed' does not exist" }]);
  });

  it('refuses removing a required property', () => {
    given(aliceCreated)
      .when(updateCmd({ id: 'alice', properties: { name: null } }), instanceContext(targets))
      .thenError('VALIDATION_FAILED', [{ path: 'properties.name', message: 'required' }]);
  });

  it('refuses wrong types and unknown properties, all at once', () => {
    given(aliceCreated)
      .when(updateCmd({ id: 'alice', properties: { age: 'old', shoe_size: 42 } }), instanceContext(targets))
      .thenError('VALIDATION_FAILED', [{ path: 'properties.age' }, { path: 'properties.shoe_size', message: 'unknown property' }]);
  });

  it('refuses an update without changes', () => {
    given(aliceCreated)
      .when(updateCmd({ id: 'alice' }), instanceContext(targets))
      .thenError('INVALID_COMMAND');
  });

  it('refuses an unknown instance', () => {
    given()
      .when(updateCmd({ id: 'alice', properties: { age: 1 } }), instanceContext(targets))
      .thenError('INSTANCE_NOT_FOUND');
  });

  it('refuses when the class of the instance was deleted', () => {
    given(aliceCreated)
      .when(updateCmd({ id: 'alice', properties: { age: 1 } }), { database: activeDb, classes: {}, targets })
      .thenError('CLASS_NOT_FOUND');
  });

  it('refuses when the database does not exist', () => {
    given(aliceCreated)
      .when(updateCmd({ id: 'alice', properties: { age: 1 } }), { classes, targets })
      .thenError('DATABASE_NOT_FOUND');
  });
});

describe('DELETE_INSTANCE', () => {
  it('deletes an instance', () => {
    given(aliceCreated)
      .when(deleteCmd('alice'), inDb)
      .thenEvents([
        {
          event_type: 'INSTANCE_DELETED',
          aggregate_type: 'instance',
          aggregate_id: `${DB}:alice`,
          payload: { db_name: DB, db_incarnation: 1, instance_id: 'alice', class_id: 'Person' },
        },
      ]);
  });

  it('refuses an unknown instance', () => {
    given().when(deleteCmd('alice'), inDb).thenError('INSTANCE_NOT_FOUND');
  });

  it('refuses a deleted instance', () => {
    const [deleted] = given(aliceCreated).when(deleteCmd('alice'), inDb).events();
    given(aliceCreated, deleted).when(deleteCmd('alice'), inDb).thenError('INSTANCE_NOT_FOUND');
  });
});

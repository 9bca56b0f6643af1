import { ClassDefinition, DomainEvent, aggregateStateFrom } from '../../../src/domain';
import { DB, activeDb, classDef, classes, given, Person, Company } from './given-when-then';

const createCmd = (payload: Record<string, unknown>, db = DB) => ({ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: db, payload });
const updateCmd = (payload: object) => ({ command_type: 'UPDATE_ONTOLOGY_CLASS', db_name: DB, payload });
const deleteCmd = (payload: object) => ({ command_type: 'DELETE_ONTOLOGY_CLASS', db_name: DB, payload });
const ctx = { database: activeDb, classes };

const created = (definition: ClassDefinition): DomainEvent => ({
  event_type: 'ONTOLOGY_CLASS_CREATED',
  aggregate_type: 'ontology_class',
  aggregate_id: `${DB}:${definition.id}`,
  payload: { db_name: DB, db_incarnation: 1, definition },
});

describe('CREATE_ONTOLOGY_CLASS', () => {
  it('creates a class with the full, defaulted definition', () => {
    given()
      .when(
        createCmd({
          id: 'Product',
          label: 'Product',
          parent_class: 'Thing',
          properties: [
            { name: 'sku', type: 'string', required: true, description: 'stock keeping unit' },
            { name: 'sizes', type: 'array', items: 'decimal' },
          ],
          relationships: [{ predicate: 'maker', target_class: 'Company', cardinality: 'n:1', label: 'made by' }],
        }),
        ctx,
      )
      .thenEvents([
        created({
          id: 'Product',
          label: 'Product',
          parent_class: 'Thing',
          abstract: false,
          properties: [
            { name: 'sku', type: 'string', required: true, description: 'stock keeping unit' },
            { name: 'sizes', type: 'array', items: 'decimal', required: false },
          ],
          relationships: [{ predicate: 'maker', target_class: 'Company', cardinality: 'n:1', label: 'made by' }],
        }),
      ]);
  });

  it('defaults properties and relationships to empty lists', () => {
    given()
      .when(createCmd({ id: 'Tag', label: 'Tag' }), ctx)
      .thenEvents([created(classDef({ id: 'Tag', label: 'Tag' }))]);
  });

  it('allows a relationship to the class itself', () => {
    const events = given()
      .when(createCmd({ id: 'Node', label: 'Node', relationships: [{ predicate: 'next', target_class: 'Node', cardinality: '1:1' }] }), ctx)
      .events();
    expect(events).toHaveLength(1);
  });

  it('refuses when the database does not exist', () => {
    given()
      .when(createCmd({ id: 'Tag', label: 'Tag' }), { classes })
      .thenError('DATABASE_NOT_FOUND');
  });

  it('refuses when the database was deleted', () => {
    const deleted = { ...activeDb, status: 'deleted' as const };
    given()
      .when(createCmd({ id: 'Tag', label: 'Tag' }), { database: deleted, classes })
      .thenError('DATABASE_NOT_FOUND');
  });

  it('refuses an existing class', () => {
    given(created(Person))
      .when(createCmd({ id: 'Person', label: 'P' }), ctx)
      .thenError('CLASS_EXISTS');
  });

  it('allows re-creating a deleted class', () => {
    const deleted: DomainEvent = {
      event_type: 'ONTOLOGY_CLASS_DELETED',
      aggregate_type: 'ontology_class',
      aggregate_id: `${DB}:Person`,
      payload: { db_name: DB, db_incarnation: 1, class_id: 'Person', force: false, instance_count: 0 },
    };
    expect(given(created(Person), deleted).when(createCmd({ id: 'Person', label: 'P' }), ctx).result.ok).toBe(true);
  });

  it('refuses a missing parent and missing relationship targets, reporting all', () => {
    given()
      .when(
        createCmd({
          id: 'Order',
          label: 'Order',
          parent_class: 'Document',
          relationships: [
            { predicate: 'buyer', target_class: 'Customer', cardinality: 'n:1' },
            { predicate: 'seller', target_class: 'Company', cardinality: 'n:1' },
            { predicate: 'lines', target_class: 'OrderLine', cardinality: '1:n' },
          ],
        }),
        ctx,
      )
      .thenError('VALIDATION_FAILED', [
        { path: 'parent_class', message: "'Document' does not exist" },
        { path: 'relationships[0].target_class', message: "'Customer'" },
        { path: 'relationships[2].target_class', message: "'OrderLine'" },
      ]);
  });

  it('refuses a class that is its own parent', () => {
    given()
      .when(createCmd({ id: 'Loop', label: 'L', parent_class: 'Loop' }), ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'parent_class' }]);
  });

  it('refuses duplicate property names and predicates', () => {
    const error = given()
      .when(
        createCmd({
          id: 'Dup',
          label: 'Dup',
          properties: [
            { name: 'a', type: 'string' },
            { name: 'a', type: 'integer' },
          ],
          relationships: [
            { predicate: 'r', target_class: 'Dup', cardinality: '1:1' },
            { predicate: 'r', target_class: 'Dup', cardinality: 'n:m' },
          ],
        }),
        ctx,
      )
      .thenError('INVALID_COMMAND');
    expect(error.details.map((d) => d.path)).toEqual(['payload.properties[1].name', 'payload.relationships[1].predicate']);
  });

  it.each([
    [{ id: '1abc', label: 'x' }, 'payload.id'],
    [{ id: 'a-b', label: 'x' }, 'payload.id'],
    [{ id: 'A'.repeat(129), label: 'x' }, 'payload.id'],
    [{ id: 'A', label: '' }, 'payload.label'],
    [{ id: 'A', label: 'x', properties: [{ name: 'p', type: 'money' }] }, 'payload.properties[0].type'],
    [{ id: 'A', label: 'x', properties: [{ name: 'p', type: 'array' }] }, 'payload.properties[0].items'],
    [{ id: 'A', label: 'x', properties: [{ name: 'p', type: 'string', items: 'string' }] }, 'payload.properties[0].items'],
    [{ id: 'A', label: 'x', properties: [{ name: 'p', type: 'array', items: 'array' }] }, 'payload.properties[0].items'],
    [{ id: 'A', label: 'x', properties: [{ name: '__proto__', type: 'string' }] }, 'payload.properties[0].name'],
    [{ id: 'A', label: 'x', relationships: [{ predicate: 'r', target_class: 'A', cardinality: '2:2' }] }, 'payload.relationships[0].cardinality'],
    [{ id: 'A', label: 'x', colour: 'red' }, 'payload'],
  ])('refuses the malformed definition %j', (payload, path) => {
    const error = given().when(createCmd(payload), ctx).thenError('INVALID_COMMAND');
    expect(error.details.map((d) => d.path)).toContain(path);
  });

  it('refuses a malformed database name', () => {
    given()
      .when(createCmd({ id: 'A', label: 'A' }, '../etc'), ctx)
      .thenError('INVALID_COMMAND', [{ path: 'db_name' }]);
  });
});

describe('UPDATE_ONTOLOGY_CLASS', () => {
  it('applies a partial change and carries the full new definition', () => {
    given(created(Person))
      .when(updateCmd({ id: 'Person', label: 'Human', description: 'a human being' }), ctx)
      .thenEvents([
        {
          event_type: 'ONTOLOGY_CLASS_UPDATED',
          aggregate_type: 'ontology_class',
          aggregate_id: `${DB}:Person`,
          payload: {
            db_name: DB,
            db_incarnation: 1,
            changes: { label: 'Human', description: 'a human being' },
            definition: { ...Person, label: 'Human', description: 'a human being' },
          },
        },
      ]);
  });

  it('clears optional fields with null and replaces lists', () => {
    const withDescription = { ...Company, description: 'x' };
    const [event] = given(created(withDescription))
      .when(updateCmd({ id: 'Company', description: null, parent_class: null, properties: [{ name: 'vat', type: 'string' }] }), ctx)
      .events();
    expect(event.payload).toMatchObject({
      definition: { id: 'Company', label: 'Company', abstract: false, properties: [{ name: 'vat', type: 'string', required: false }], relationships: Company.relationships },
    });
    const definition = (event.payload as { definition: ClassDefinition }).definition;
    expect(definition).not.toHaveProperty('description');
    expect(definition).not.toHaveProperty('parent_class');
  });

  it('refuses an unknown class', () => {
    given()
      .when(updateCmd({ id: 'Nope', label: 'x' }), ctx)
      .thenError('CLASS_NOT_FOUND');
  });

  it('refuses when the database does not exist', () => {
    given(created(Person))
      .when(updateCmd({ id: 'Person', label: 'x' }), { classes })
      .thenError('DATABASE_NOT_FOUND');
  });

  it('refuses an update without changes', () => {
    given(created(Person))
      .when(updateCmd({ id: 'Person' }), ctx)
      .thenError('INVALID_COMMAND');
  });

  it('refuses a parent that would create an inheritance cycle', () => {
    // Employee extends Person; making Person extend Employee closes a loop
    given(created(Person))
      .when(updateCmd({ id: 'Person', parent_class: 'Employee' }), ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'parent_class', message: 'cycle' }]);
  });

  it('refuses missing relationship targets', () => {
    given(created(Person))
      .when(updateCmd({ id: 'Person', relationships: [{ predicate: 'pet', target_class: 'Animal', cardinality: '1:n' }] }), ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'relationships[0].target_class' }]);
  });

  it('refuses making a class with instances abstract', () => {
    given(created(Person))
      .when(updateCmd({ id: 'Person', abstract: true }), { ...ctx, instanceCount: 3 })
      .thenError('CLASS_HAS_INSTANCES');
  });

  it('allows making a class without instances abstract', () => {
    expect(given(created(Person)).when(updateCmd({ id: 'Person', abstract: true }), { ...ctx, instanceCount: 0 }).result.ok).toBe(true);
  });
});

describe('DELETE_ONTOLOGY_CLASS', () => {
  const deleted = (force: boolean, instance_count: number): DomainEvent => ({
    event_type: 'ONTOLOGY_CLASS_DELETED',
    aggregate_type: 'ontology_class',
    aggregate_id: `${DB}:Person`,
    payload: { db_name: DB, db_incarnation: 1, class_id: 'Person', force, instance_count },
  });

  it('deletes a class without instances', () => {
    given(created(Person))
      .when(deleteCmd({ id: 'Person' }), { database: activeDb, instanceCount: 0 })
      .thenEvents([deleted(false, 0)]);
  });

  it('refuses while instances exist', () => {
    const error = given(created(Person))
      .when(deleteCmd({ id: 'Person' }), { database: activeDb, instanceCount: 2 })
      .thenError('CLASS_HAS_INSTANCES');
    expect(error.status).toBe(409);
  });

  it('deletes with force although instances exist', () => {
    given(created(Person))
      .when(deleteCmd({ id: 'Person', force: true }), { database: activeDb, instanceCount: 2 })
      .thenEvents([deleted(true, 2)]);
  });

  it('refuses an unknown class', () => {
    given()
      .when(deleteCmd({ id: 'Person' }), { database: activeDb })
      .thenError('CLASS_NOT_FOUND');
  });

  it('refuses a class deleted already', () => {
    given(created(Person), deleted(false, 0))
      .when(deleteCmd({ id: 'Person' }), { database: activeDb })
      .thenError('CLASS_NOT_FOUND');
  });

  it('leaves a tombstone state', () => {
    const state = aggregateStateFrom([created(Person), deleted(false, 0)], 'ontology_class');
    expect(state).toMatchObject({ status: 'deleted', version: 2, definition: Person });
  });
});

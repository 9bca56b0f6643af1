import { isValidDate, isValidDateTime } from '../../../src/domain';
import { DB, given, instanceContext } from './given-when-then';

const create = (properties: Record<string, unknown>, relationships: Record<string, unknown> = {}, class_id = 'Person') => ({
  command_type: 'CREATE_INSTANCE',
  db_name: DB,
  payload: { id: 'p1', class_id, properties: { name: 'P', ...properties }, relationships },
});
const targets = {
  acme: { class_id: 'Company' },
  globex: { class_id: 'Company' },
  bob: { class_id: 'Person' },
  carol: { class_id: 'Employee' },
  gone: { class_id: 'Person', deleted: true },
};
const ctx = instanceContext(targets);

describe('property types', () => {
  const valid: Array<[string, unknown]> = [
    ['name', ''],
    ['age', 0],
    ['age', -42],
    ['age', Number.MAX_SAFE_INTEGER],
    ['height', 1.85],
    ['height', -3],
    ['height', 0],
    ['active', false],
    ['birthday', '2024-02-29'],
    ['birthday', '1999-12-31'],
    ['last_seen', '2024-05-01T12:00:00Z'],
    ['last_seen', '2024-05-01T12:00Z'],
    ['last_seen', '2024-05-01T12:00:00.123456+02:00'],
    ['last_seen', '2024-05-01T23:59:59-11:30'],
    ['extra', { nested: [1, 'two', null] }],
    ['extra', 'text'],
    ['extra', 7],
    ['extra', [1, 2]],
    ['tags', []],
    ['tags', ['a', 'b']],
    ['scores', [1, 2, 3]],
  ];
  it.each(valid)('accepts %s = %j', (name, value) => {
    expect(given().when(create({ [name]: value }), ctx).result.ok).toBe(true);
  });

  const invalid: Array<[string, unknown]> = [
    ['name', 42],
    ['name', true],
    ['age', 1.5],
    ['age', '42'],
    ['age', Number.MAX_SAFE_INTEGER + 1],
    ['age', true],
    ['height', '1.85'],
    ['height', {}],
    ['active', 'true'],
    ['active', 1],
    ['birthday', '2023-02-29'],
    ['birthday', '2024-13-01'],
    ['birthday', '2024-04-31'],
    ['birthday', '2024-00-10'],
    ['birthday', '24-01-01'],
    ['birthday', '2024-01-01T00:00:00Z'],
    ['birthday', 20240101],
    ['last_seen', '2024-05-01T12:00:00'],
    ['last_seen', '2024-05-01 12:00:00Z'],
    ['last_seen', '2024-05-01T24:00:00Z'],
    ['last_seen', '2024-05-01T12:60:00Z'],
    ['last_seen', '2024-02-30T12:00:00Z'],
    ['last_seen', '2024-05-01T12:00:00+0200'],
    ['last_seen', '2024-05-01'],
    ['last_seen', 1714564800000],
    ['tags', 'a'],
    ['tags', ['a', 1]],
    ['scores', [1, 2.5]],
    ['scores', { 0: 1 }],
  ];
  it.each(invalid)('refuses %s = %j', (name, value) => {
    const error = given()
      .when(create({ [name]: value }), ctx)
      .thenError('VALIDATION_FAILED');
    expect(error.status).toBe(422);
    expect(error.details).toHaveLength(1);
    expect(error.details[0].path.startsWith(`properties.${name}`)).toBe(true);
  });

  it('points at the offending array item', () => {
    given()
      .when(create({ tags: ['ok', 2, 'fine', false] }), ctx)
      .thenError('VALIDATION_FAILED', [
        { path: 'properties.tags[1]', message: 'expected a string' },
        { path: 'properties.tags[3]', message: 'got boolean' },
      ]);
  });

  it('rejects NaN and Infinity as decimals (as the validator sees them from non-JSON callers)', () => {
    expect(given().when(create({ height: Number.NaN }), ctx).result.ok).toBe(false);
    expect(given().when(create({ height: Number.POSITIVE_INFINITY }), ctx).result.ok).toBe(false);
  });

  it('rejects decimals beyond ±(2^53-1), whose digits JSON.parse has already rounded, and keeps the safe edge', () => {
    for (const height of [2 ** 53, -(2 ** 53), 1e20, Number.MAX_VALUE]) {
      given()
        .when(create({ height }), ctx)
        .thenError('VALIDATION_FAILED', [{ path: 'properties.height', message: 'within ±(2^53-1)' }]);
    }
    for (const height of [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 0.1, 1.5e-300]) {
      expect(given().when(create({ height }), ctx).result.ok).toBe(true);
    }
  });

  it('validates calendar dates including leap years', () => {
    expect(isValidDate('2000-02-29')).toBe(true);
    expect(isValidDate('1900-02-29')).toBe(false);
    expect(isValidDateTime('2000-02-29T00:00:00Z')).toBe(true);
    expect(isValidDateTime('2000-02-29T00:00:00+24:00')).toBe(false);
  });
});

describe('required and unknown properties', () => {
  it('refuses a missing required property', () => {
    given()
      .when({ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'p1', class_id: 'Person', properties: {} } }, ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'properties.name', message: "required property 'name'" }]);
  });

  it('treats null as absent for a required property', () => {
    given()
      .when(create({ name: null }), ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'properties.name', message: 'required' }]);
  });

  it('refuses unknown properties', () => {
    given()
      .when(create({ colour: 'red' }), ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'properties.colour', message: 'unknown property' }]);
  });

  it('does not treat prototype members as declared properties', () => {
    given()
      .when(create({ toString: 'x', constructor: 1 }), ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'properties.toString' }, { path: 'properties.constructor' }]);
  });

  it('reports every violation at once', () => {
    const error = given()
      .when(
        {
          command_type: 'CREATE_INSTANCE',
          db_name: DB,
          payload: {
            id: 'p1',
            class_id: 'Person',
            properties: { age: 'x', birthday: '2023-02-30', colour: 'red' },
            relationships: { employer: ['acme', 'globex'], friends: ['nobody'], pets: 'rex' },
          },
        },
        ctx,
      )
      .thenError('VALIDATION_FAILED');
    expect(error.details.map((d) => d.path).sort()).toEqual(
      ['properties.age', 'properties.birthday', 'properties.colour', 'properties.name', 'relationships.employer', 'relationships.friends[0]', 'relationships.pets'].sort(),
    );
  });
});

describe('inheritance', () => {
  it('counts properties inherited from the whole parent chain', () => {
    // Employee -> Person -> Thing: name (Thing, required), age (Person), badge (Employee, required)
    const result = given().when(create({ age: 40, badge: 'B-1' }, { employer: 'acme' }, 'Employee'), ctx).result;
    expect(result.ok).toBe(true);
  });

  it('requires inherited required properties', () => {
    given()
      .when({ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'e1', class_id: 'Employee', properties: { badge: 'B' } } }, ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'properties.name' }]);
  });

  it('requires the subclass own required properties', () => {
    given()
      .when(create({}, {}, 'Employee'), ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'properties.badge' }]);
  });

  it('accepts an instance of a subclass as a relationship target', () => {
    expect(given().when(create({}, { friends: ['carol'] }), ctx).result.ok).toBe(true);
  });

  it('refuses an instance of a superclass where the subclass is required', () => {
    given()
      .when({ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'c1', class_id: 'Company', properties: { name: 'C' }, relationships: { staff: ['carol', 'bob'] } } }, ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'relationships.staff[1]', message: "is a 'Person'" }]);
  });

  it('lets a subclass override an inherited property definition', () => {
    const Strict = { id: 'Strict', label: 'S', parent_class: 'Person', abstract: false, properties: [{ name: 'age', type: 'string' as const, required: true }], relationships: [] };
    const context = { ...ctx, classes: { ...ctx.classes, Strict } };
    expect(given().when(create({ age: 'old' }, {}, 'Strict'), context).result.ok).toBe(true);
    given()
      .when(create({ age: 5 }, {}, 'Strict'), context)
      .thenError('VALIDATION_FAILED', [{ path: 'properties.age' }]);
  });

  it('stops at a cycle in a corrupt class catalog instead of looping', () => {
    const A = { id: 'A', label: 'A', parent_class: 'B', abstract: false, properties: [], relationships: [] };
    const B = { id: 'B', label: 'B', parent_class: 'A', abstract: false, properties: [], relationships: [] };
    expect(given().when(create({}, {}, 'A'), { ...ctx, classes: { A, B } }).result.ok).toBe(false);
  });
});

describe('relationships and cardinality', () => {
  it.each([
    ['1:1', 'spouse'],
    ['n:1', 'employer'],
  ])('%s takes a single target id', (_cardinality, predicate) => {
    const target = predicate === 'employer' ? 'acme' : 'bob';
    expect(given().when(create({}, { [predicate]: target }), ctx).result.ok).toBe(true);
    given()
      .when(create({}, { [predicate]: [target] }), ctx)
      .thenError('VALIDATION_FAILED', [{ path: `relationships.${predicate}`, message: 'takes one target id' }]);
  });

  it.each([
    ['n:m', 'Person', 'friends', ['bob', 'carol']],
    ['1:n', 'Company', 'staff', ['carol']],
  ])('%s takes an array of targets', (_cardinality, class_id, predicate, ids) => {
    const command = { command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'x1', class_id, properties: { name: 'X' }, relationships: { [predicate]: ids } } };
    expect(given().when(command, ctx).result.ok).toBe(true);
  });

  it('accepts an empty array for a to-many relationship', () => {
    expect(given().when(create({}, { friends: [] }), ctx).result.ok).toBe(true);
  });

  it('refuses duplicate targets', () => {
    given()
      .when(create({}, { friends: ['bob', 'bob'] }), ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'relationships.friends[1]', message: 'duplicate' }]);
  });

  it('refuses unknown predicates', () => {
    given()
      .when(create({}, { owns: 'acme' }), ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'relationships.owns', message: 'unknown relationship' }]);
  });

  it('refuses missing and deleted targets', () => {
    given()
      .when(create({}, { friends: ['ghost', 'gone', 'bob'] }), ctx)
      .thenError('VALIDATION_FAILED', [
        { path: 'relationships.friends[0]', message: "'ghost' does not exist" },
        { path: 'relationships.friends[1]', message: "'gone' does not exist" },
      ]);
  });

  it('refuses a target of the wrong class', () => {
    given()
      .when(create({}, { employer: 'bob' }), ctx)
      .thenError('VALIDATION_FAILED', [{ path: 'relationships.employer', message: "needs a 'Company'" }]);
  });

  it('refuses malformed target ids at the schema level', () => {
    given()
      .when(create({}, { employer: '../etc/passwd' }), ctx)
      .thenError('INVALID_COMMAND');
  });
});

import {
  COMMAND_TYPES,
  DomainError,
  HTTP_STATUS,
  ERROR_CODES,
  assignInstanceIds,
  commandSchemas,
  contextNeeds,
  decide,
  decideOrThrow,
  isDomainErrorData,
  requestSchemas,
  splitAggregateId,
} from '../../../src/domain';
import { DB } from './given-when-then';

describe('commandSchemas (reused by the API for 4xx answers)', () => {
  it('has a payload schema for every command type', () => {
    expect(COMMAND_TYPES.sort()).toEqual(
      [
        'BULK_CREATE_INSTANCES',
        'CREATE_DATABASE',
        'CREATE_INSTANCE',
        'CREATE_ONTOLOGY_CLASS',
        'DELETE_DATABASE',
        'DELETE_INSTANCE',
        'DELETE_ONTOLOGY_CLASS',
        'UPDATE_INSTANCE',
        'UPDATE_ONTOLOGY_CLASS',
      ].sort(),
    );
  });

  it('applies defaults', () => {
    expect(commandSchemas.DELETE_ONTOLOGY_CLASS.parse({ id: 'C' })).toEqual({ id: 'C', force: false });
    expect(commandSchemas.CREATE_INSTANCE.parse({ id: 'i', class_id: 'C' })).toEqual({ id: 'i', class_id: 'C', properties: {}, relationships: {} });
  });

  it('reports issues with paths', () => {
    const result = commandSchemas.CREATE_ONTOLOGY_CLASS.safeParse({ id: 'C', label: 'C', properties: [{ name: 'x', type: 'blob' }] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0].path).toEqual(['properties', 0, 'type']);
  });

  it('lets requests leave instance ids out, commands not', () => {
    expect(requestSchemas.CREATE_INSTANCE.safeParse({ class_id: 'C' }).success).toBe(true);
    expect(commandSchemas.CREATE_INSTANCE.safeParse({ class_id: 'C' }).success).toBe(false);
    expect(requestSchemas.BULK_CREATE_INSTANCES.safeParse({ class_id: 'C', instances: [{}] }).success).toBe(true);
  });

  it('fills missing ids with the caller generator and keeps given ones', () => {
    let n = 0;
    const newId = () => `gen-${++n}`;
    expect(assignInstanceIds(requestSchemas.CREATE_INSTANCE.parse({ class_id: 'C' }), newId).id).toBe('gen-1');
    const bulk = assignInstanceIds(requestSchemas.BULK_CREATE_INSTANCES.parse({ class_id: 'C', instances: [{ id: 'keep' }, {}] }), newId);
    expect(bulk.instances.map((i) => i.id)).toEqual(['keep', 'gen-2']);
    expect(commandSchemas.BULK_CREATE_INSTANCES.safeParse(bulk).success).toBe(true);
  });

  it('does not let a hostile __proto__ key change the payload prototype', () => {
    const body = JSON.parse('{"id":"i","class_id":"C","properties":{"__proto__":{"polluted":true}}}');
    const parsed = commandSchemas.CREATE_INSTANCE.parse(body);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(parsed.properties)).toBe(Object.prototype);
  });
});

describe('contextNeeds', () => {
  it('lists what the caller must load', () => {
    expect(contextNeeds({ command_type: 'CREATE_DATABASE', payload: { name: DB } })).toEqual({ classes: false, instanceIds: [] });
    expect(contextNeeds({ command_type: 'DELETE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'C' } })).toEqual({
      database: DB,
      classes: true,
      instanceIds: [],
      instanceCountOf: 'C',
    });
    expect(contextNeeds({ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id: 'i', class_id: 'C', relationships: { a: 'x', b: ['y', 'x'] } } })).toEqual({
      database: DB,
      classes: true,
      instanceIds: ['i', 'x', 'y'],
    });
    expect(contextNeeds({ command_type: 'UPDATE_INSTANCE', db_name: DB, payload: { id: 'i', relationships: { a: null, b: ['y'] } } }).instanceIds).toEqual(['y']);
    expect(
      contextNeeds({
        command_type: 'BULK_CREATE_INSTANCES',
        db_name: DB,
        batch_id: 'b',
        payload: { class_id: 'C', instances: [{ id: 'i1', relationships: { r: 'i2' } }, { id: 'i2' }] },
      }).instanceIds,
    ).toEqual(['i1', 'i2']);
  });
});

describe('errors', () => {
  it('maps every code to an http status', () => {
    for (const code of ERROR_CODES) expect([400, 404, 409, 422]).toContain(HTTP_STATUS[code]);
  });

  it('returns refusals as plain, serialisable data', () => {
    const result = decide({ command_type: 'DELETE_DATABASE', payload: { name: DB } });
    expect(result.ok).toBe(false);
    const copy = JSON.parse(JSON.stringify(result));
    expect(copy).toEqual(result);
    expect(isDomainErrorData(copy.error)).toBe(true);
    expect(copy.error).toMatchObject({ code: 'DATABASE_NOT_FOUND', status: 404, details: [] });
  });

  it('throws a typed DomainError from decideOrThrow', () => {
    try {
      decideOrThrow({ command_type: 'DELETE_DATABASE', payload: { name: DB } });
      throw new Error('expected a DomainError');
    } catch (error) {
      expect(error).toBeInstanceOf(DomainError);
      expect(error).toMatchObject({ code: 'DATABASE_NOT_FOUND', status: 404 });
      expect(JSON.parse(JSON.stringify(error))).toMatchObject({ code: 'DATABASE_NOT_FOUND', details: [] });
    }
  });

  it('throws when the state belongs to another aggregate type (a loader bug)', () => {
    expect(() => decide({ command_type: 'DELETE_DATABASE', payload: { name: DB } }, { aggregate_type: 'instance', version: 0, status: 'absent' })).toThrow();
  });

  it('splits aggregate ids at the first colon', () => {
    expect(splitAggregateId('db:inst:1')).toEqual({ db: 'db', id: 'inst:1', incarnation: 1 });
  });
});

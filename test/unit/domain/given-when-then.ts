/** Given/when/then for the domain: given the stream's events, when a command, then events or a refusal. */
import { ClassDefinition, CommandInput, DecideContext, DecideOptions, DecideResult, DomainErrorData, DomainEvent, ErrorCode, StoredEventLike, aggregateStateFrom, decide } from '../../../src/domain';

export interface Then {
  result: DecideResult;
  thenEvents(expected: DomainEvent[]): void;
  thenError(code: ErrorCode, details?: Array<{ path: string; message?: string | RegExp }>): DomainErrorData;
  events(): DomainEvent[];
}

export function given(...history: Array<DomainEvent | StoredEventLike>) {
  return {
    when(command: CommandInput | unknown, context: DecideContext = {}, options?: DecideOptions): Then {
      const state = history.length > 0 ? aggregateStateFrom(history) : undefined;
      const result = decide(command, state, context, options);
      return {
        result,
        thenEvents(expected) {
          expect(result).toEqual({ ok: true, events: expected });
        },
        events() {
          if (!result.ok) throw new Error(`expected events, got ${JSON.stringify(result.error)}`);
          return result.events;
        },
        thenError(code, details) {
          if (result.ok) throw new Error(`expected ${code}, got events ${JSON.stringify(result.events)}`);
          expect(result.error.code).toBe(code);
          if (details !== undefined) {
            expect(result.error.details).toHaveLength(details.length);
            for (const d of details) {
              const match = result.error.details.find(
                (actual) => actual.path === d.path && (d.message === undefined || (typeof d.message === 'string' ? actual.message.includes(d.message) : d.message.test(actual.message))),
              );
              if (match === undefined) {
                throw new Error(`no detail ${JSON.stringify(d)} in ${JSON.stringify(result.error.details)}`);
              }
            }
          }
          return result.error;
        },
      };
    },
  };
}

// ---- fixtures --------------------------------------------------------------------------------

export const DB = 'shop';

export const dbCreated: DomainEvent = {
  event_type: 'DATABASE_CREATED',
  aggregate_type: 'database',
  aggregate_id: DB,
  payload: { name: DB },
};

export const activeDb = aggregateStateFrom([dbCreated], 'database');

export const dbDeleted: DomainEvent = { event_type: 'DATABASE_DELETED', aggregate_type: 'database', aggregate_id: DB, payload: { name: DB } };
/** The database after one deletion: its first life is over. */
export const deletedDb = aggregateStateFrom([dbCreated, dbDeleted], 'database');
/** The database deleted and created again: its second life began at version 3 (incarnation 3). */
export const recreatedDb = aggregateStateFrom([dbCreated, dbDeleted, dbCreated], 'database');

export function classDef(partial: Partial<ClassDefinition> & { id: string }): ClassDefinition {
  return { label: partial.id, abstract: false, properties: [], relationships: [], ...partial };
}

export const Thing = classDef({
  id: 'Thing',
  abstract: true,
  properties: [{ name: 'name', type: 'string', required: true }],
});
export const Person = classDef({
  id: 'Person',
  parent_class: 'Thing',
  properties: [
    { name: 'age', type: 'integer', required: false },
    { name: 'height', type: 'decimal', required: false },
    { name: 'active', type: 'boolean', required: false },
    { name: 'birthday', type: 'date', required: false },
    { name: 'last_seen', type: 'datetime', required: false },
    { name: 'extra', type: 'json', required: false },
    { name: 'tags', type: 'array', items: 'string', required: false },
    { name: 'scores', type: 'array', items: 'integer', required: false },
  ],
  relationships: [
    { predicate: 'employer', target_class: 'Company', cardinality: 'n:1' },
    { predicate: 'friends', target_class: 'Person', cardinality: 'n:m' },
    { predicate: 'spouse', target_class: 'Person', cardinality: '1:1' },
  ],
});
export const Employee = classDef({
  id: 'Employee',
  parent_class: 'Person',
  properties: [{ name: 'badge', type: 'string', required: true }],
});
export const Company = classDef({
  id: 'Company',
  parent_class: 'Thing',
  relationships: [
    { predicate: 'ceo', target_class: 'Person', cardinality: '1:1' },
    { predicate: 'staff', target_class: 'Employee', cardinality: '1:n' },
  ],
});

export const classes = { Thing, Person, Employee, Company };

/** The context an instance command gets in most tests. */
export function instanceContext(targets: DecideContext['targets'] = {}): DecideContext {
  return { database: activeDb, classes, targets };
}

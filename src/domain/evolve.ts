/**
 * evolve(state, event) -> state. Total over stored history: unknown event types (written by a
 * newer version) only advance the version, so old workers can still load a stream.
 */
import { DomainEvent, EVENT_TYPES, InstanceData, isEventType } from './events';
import type { AggregateType } from './identifiers';
import { AggregateState, ClassState, DatabaseState, InstanceBatchState, InstanceState, StateOf, initialState } from './state';

/** A draft or a stored envelope; the envelope's aggregate_version wins over counting when present. */
export type EventLike = Pick<DomainEvent, 'event_type' | 'aggregate_type' | 'aggregate_id' | 'payload'> & {
  aggregate_version?: number;
};

/** Wider than EventLike so stored events of unknown type can be folded too. */
export interface StoredEventLike {
  event_type: string;
  aggregate_type: string;
  aggregate_id: string;
  payload: unknown;
  aggregate_version?: number;
}

export function evolve<S extends AggregateState>(state: S, event: EventLike | StoredEventLike): S;
export function evolve(state: AggregateState, event: EventLike | StoredEventLike): AggregateState {
  if (event.aggregate_type !== state.aggregate_type) {
    throw new Error(`cannot apply a ${event.aggregate_type} event to a ${state.aggregate_type} state`);
  }
  const version = typeof event.aggregate_version === 'number' ? event.aggregate_version : state.version + 1;
  if (!isEventType(event.event_type)) return { ...state, version };
  const known = event as DomainEvent;

  switch (state.aggregate_type) {
    case 'database':
      return evolveDatabase(state, known, version);
    case 'ontology_class':
      return evolveClass(state, known, version);
    case 'instance':
      return evolveInstance(state, known, version);
    case 'instance_batch':
      return evolveBatch(state, known, version);
  }
}

function evolveDatabase(state: DatabaseState, event: DomainEvent, version: number): DatabaseState {
  switch (event.event_type) {
    case EVENT_TYPES.DATABASE_CREATED: {
      const next: DatabaseState = { aggregate_type: 'database', version, status: 'active', name: event.payload.name, incarnation: version };
      if (event.payload.description !== undefined) next.description = event.payload.description;
      return next;
    }
    case EVENT_TYPES.DATABASE_DELETED:
      return { ...state, version, status: 'deleted' };
    default:
      return { ...state, version };
  }
}

function evolveClass(state: ClassState, event: DomainEvent, version: number): ClassState {
  switch (event.event_type) {
    case EVENT_TYPES.ONTOLOGY_CLASS_CREATED:
    case EVENT_TYPES.ONTOLOGY_CLASS_UPDATED:
      return {
        aggregate_type: 'ontology_class',
        version,
        status: 'active',
        db_name: event.payload.db_name,
        definition: event.payload.definition,
      };
    case EVENT_TYPES.ONTOLOGY_CLASS_DELETED:
      return { ...state, version, status: 'deleted' };
    default:
      return { ...state, version };
  }
}

function evolveInstance(state: InstanceState, event: DomainEvent, version: number): InstanceState {
  switch (event.event_type) {
    case EVENT_TYPES.INSTANCE_CREATED:
    case EVENT_TYPES.INSTANCE_UPDATED:
      return {
        aggregate_type: 'instance',
        version,
        status: 'active',
        db_name: event.payload.db_name,
        instance: event.payload.instance,
      };
    case EVENT_TYPES.INSTANCE_DELETED:
      return { ...state, version, status: 'deleted' };
    default:
      return { ...state, version };
  }
}

function evolveBatch(state: InstanceBatchState, event: DomainEvent, version: number): InstanceBatchState {
  if (event.event_type !== EVENT_TYPES.INSTANCES_BULK_CREATED) return { ...state, version };
  return {
    aggregate_type: 'instance_batch',
    version,
    status: 'active',
    db_name: event.payload.db_name,
    batch_id: event.payload.batch_id,
    class_id: event.payload.class_id,
    batch_count: event.payload.batch_count,
    batches_recorded: state.batches_recorded + 1,
    instance_count: state.instance_count + event.payload.instances.length,
  };
}

/**
 * Folds a whole stream (or the tail after a snapshot, when `from` is given). The aggregate type
 * is taken from the first event; pass it explicitly for a stream that may be empty.
 */
export function aggregateStateFrom<T extends AggregateType>(events: readonly (EventLike | StoredEventLike)[], aggregateType: T, from?: StateOf<T>): StateOf<T>;
export function aggregateStateFrom(events: readonly (EventLike | StoredEventLike)[]): AggregateState;
export function aggregateStateFrom(events: readonly (EventLike | StoredEventLike)[], aggregateType?: AggregateType, from?: AggregateState): AggregateState {
  const type = aggregateType ?? (events[0]?.aggregate_type as AggregateType | undefined);
  if (type === undefined) throw new Error('aggregateStateFrom: empty stream and no aggregate type given');
  return events.reduce<AggregateState>((state, event) => evolve(state, event), from ?? initialState(type));
}

/**
 * Instances created in bulk have no events on their own stream until their first update or
 * delete. The loader seeds their state from the batch event that holds them (found through the
 * read model); events on the instance stream are then folded on top with `from`.
 */
export function instanceStateFromBatch(event: EventLike | StoredEventLike, instanceId: string): InstanceState | undefined {
  if (event.event_type !== EVENT_TYPES.INSTANCES_BULK_CREATED) return undefined;
  const payload = event.payload as { db_name: string; instances: InstanceData[] };
  const instance = payload.instances.find((i) => i.id === instanceId);
  if (instance === undefined) return undefined;
  // version 0: the instance's own stream is still empty, its next event is version 1
  return { aggregate_type: 'instance', version: 0, status: 'active', db_name: payload.db_name, instance };
}

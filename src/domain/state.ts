/**
 * Aggregate states as evolve() folds them. Deleted aggregates keep their last data (tombstones),
 * so a later create on the same stream can be told apart from a first one.
 */
import type { AggregateType } from './identifiers';
import type { ClassDefinition } from './ontology-class';
import type { InstanceData } from './events';

export type AggregateStatus = 'absent' | 'active' | 'deleted';

/**
 * The shape of the states below and of the fold that makes them (evolve, and any upcaster run
 * before it). Bump it with any change that makes a stream fold to another state: stored snapshots
 * of an older version are then ignored, and rebuilt from the events.
 */
export const STATE_VERSION = 1;

interface StateBase {
  /** events folded so far; equals the stream version when built from the whole stream */
  version: number;
  status: AggregateStatus;
}

export interface DatabaseState extends StateBase {
  aggregate_type: 'database';
  name?: string;
  description?: string;
  /** The life in force (or the last one, once deleted): the version of its DATABASE_CREATED. */
  incarnation?: number;
}

export interface ClassState extends StateBase {
  aggregate_type: 'ontology_class';
  db_name?: string;
  definition?: ClassDefinition;
}

export interface InstanceState extends StateBase {
  aggregate_type: 'instance';
  db_name?: string;
  instance?: InstanceData;
}

/** The stream of one bulk command; 'active' once any of its batches is recorded. */
export interface InstanceBatchState extends StateBase {
  aggregate_type: 'instance_batch';
  db_name?: string;
  batch_id?: string;
  class_id?: string;
  batch_count: number;
  batches_recorded: number;
  instance_count: number;
}

export type AggregateState = DatabaseState | ClassState | InstanceState | InstanceBatchState;
export type StateOf<T extends AggregateType> = Extract<AggregateState, { aggregate_type: T }>;

export function initialState<T extends AggregateType>(aggregateType: T): StateOf<T>;
export function initialState(aggregateType: AggregateType): AggregateState {
  switch (aggregateType) {
    case 'database':
      return { aggregate_type: 'database', version: 0, status: 'absent' };
    case 'ontology_class':
      return { aggregate_type: 'ontology_class', version: 0, status: 'absent' };
    case 'instance':
      return { aggregate_type: 'instance', version: 0, status: 'absent' };
    case 'instance_batch':
      return { aggregate_type: 'instance_batch', version: 0, status: 'absent', batch_count: 0, batches_recorded: 0, instance_count: 0 };
  }
}

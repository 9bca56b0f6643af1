/**
 * Events as decide() drafts them. The store adds the envelope (event_id, aggregate_version,
 * occurred_at, actor, command_id, ...); evolve() accepts drafts and envelopes alike.
 * Payloads carry full definitions/states so projections and replays never need another stream.
 */
import { FIRST_INCARNATION, type AggregateType } from './identifiers';
import type { ClassDefinition } from './ontology-class';

export const EVENT_TYPES = {
  DATABASE_CREATED: 'DATABASE_CREATED',
  DATABASE_DELETED: 'DATABASE_DELETED',
  ONTOLOGY_CLASS_CREATED: 'ONTOLOGY_CLASS_CREATED',
  ONTOLOGY_CLASS_UPDATED: 'ONTOLOGY_CLASS_UPDATED',
  ONTOLOGY_CLASS_DELETED: 'ONTOLOGY_CLASS_DELETED',
  INSTANCE_CREATED: 'INSTANCE_CREATED',
  INSTANCE_UPDATED: 'INSTANCE_UPDATED',
  INSTANCE_DELETED: 'INSTANCE_DELETED',
  INSTANCES_BULK_CREATED: 'INSTANCES_BULK_CREATED',
} as const;
export type EventType = keyof typeof EVENT_TYPES;

/** Relationship values are normalised: a string for 1:1/n:1, an array for 1:n/n:m. */
export type RelationshipValues = Record<string, string | string[]>;

export interface InstanceData {
  id: string;
  class_id: string;
  properties: Record<string, unknown>;
  relationships: RelationshipValues;
}

export interface ClassDefinitionChanges {
  label?: string;
  description?: string | null;
  parent_class?: string | null;
  abstract?: boolean;
  properties?: ClassDefinition['properties'];
  relationships?: ClassDefinition['relationships'];
}

export interface InstanceChanges {
  /** null = property removed */
  properties?: Record<string, unknown>;
  /** null = relationship removed */
  relationships?: Record<string, string | string[] | null>;
}

/**
 * Every event of a class, instance or batch stream names its database and the life of that
 * database it belongs to (see databaseScope). Events stored before incarnations existed have no
 * db_incarnation: they belong to the first life (incarnationOfEvent).
 */
interface DatabaseScoped {
  db_name: string;
  db_incarnation: number;
}

export interface EventPayloads {
  DATABASE_CREATED: { name: string; description?: string };
  DATABASE_DELETED: { name: string };
  ONTOLOGY_CLASS_CREATED: DatabaseScoped & { definition: ClassDefinition };
  ONTOLOGY_CLASS_UPDATED: DatabaseScoped & { changes: ClassDefinitionChanges; definition: ClassDefinition };
  /**
   * instance_count: instances the caller reported when a forced delete left them behind.
   * Schema version 2; version 1 called `force` `forced` (see UPCASTERS).
   */
  ONTOLOGY_CLASS_DELETED: DatabaseScoped & { class_id: string; force: boolean; instance_count: number };
  INSTANCE_CREATED: DatabaseScoped & { instance: InstanceData };
  INSTANCE_UPDATED: DatabaseScoped & { changes: InstanceChanges; instance: InstanceData };
  INSTANCE_DELETED: DatabaseScoped & { instance_id: string; class_id: string };
  /** batch_index is 0-based; batch_count events make up the whole bulk command */
  INSTANCES_BULK_CREATED: DatabaseScoped & {
    batch_id: string;
    class_id: string;
    batch_index: number;
    batch_count: number;
    instances: InstanceData[];
    /**
     * Per instance (same order): the stream and version its claim holds on the instance's own
     * stream, where its creation is recorded too. Absent in batches stored before claims existed.
     */
    claims?: { aggregate_id: string; version: number }[];
  };
}

export const EVENT_AGGREGATE_TYPE = {
  DATABASE_CREATED: 'database',
  DATABASE_DELETED: 'database',
  ONTOLOGY_CLASS_CREATED: 'ontology_class',
  ONTOLOGY_CLASS_UPDATED: 'ontology_class',
  ONTOLOGY_CLASS_DELETED: 'ontology_class',
  INSTANCE_CREATED: 'instance',
  INSTANCE_UPDATED: 'instance',
  INSTANCE_DELETED: 'instance',
  INSTANCES_BULK_CREATED: 'instance_batch',
} as const satisfies Record<EventType, AggregateType>;

export type DomainEventOf<T extends EventType> = {
  event_type: T;
  aggregate_type: (typeof EVENT_AGGREGATE_TYPE)[T];
  aggregate_id: string;
  payload: EventPayloads[T];
};
export type DomainEvent = { [T in EventType]: DomainEventOf<T> }[EventType];
/** Alias that says what decide() returns: events without their envelope. */
export type DomainEventDraft = DomainEvent;

export const isEventType = (value: unknown): value is EventType => typeof value === 'string' && Object.prototype.hasOwnProperty.call(EVENT_TYPES, value);

/** The database life a stored class/instance/batch event belongs to; events older than incarnations belong to the first. */
export function incarnationOfEvent(event: { payload: unknown }): number {
  const value = (event.payload as { db_incarnation?: unknown } | null)?.db_incarnation;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= FIRST_INCARNATION ? value : FIRST_INCARNATION;
}

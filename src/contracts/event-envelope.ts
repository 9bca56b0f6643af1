/**
 * The stored form of an event, shared by the event stores, the ledger, the Kafka relay, the
 * workflows (as plain data) and the API. The domain produces drafts; this adds identity and place.
 */
import { currentSchemaVersion, upcast } from '../domain/upcasters';
import { nameBasedUuid } from '../lib/name-based-uuid';
import type { StorageMode } from './storage-mode';

export interface EventDraft<P = unknown> {
  event_type: string;
  aggregate_type: string;
  aggregate_id: string;
  payload: P;
}

export interface EventEnvelope<P = unknown> extends EventDraft<P> {
  /** Deterministic from the command id and the event's position in the command: a retry writes the same id. */
  event_id: string;
  aggregate_version: number;
  occurred_at: string;
  actor: string;
  command_id: string;
  /** The version of this event type's payload schema (see src/domain/upcasters.ts). */
  schema_version: number;
  metadata: { storage_mode: StorageMode; trace_id?: string; [k: string]: unknown };
}

export interface S3Reference {
  bucket: string;
  key: string;
  endpoint: string;
  event_id: string;
}

export interface StoredEvent<P = unknown> {
  envelope: EventEnvelope<P>;
  /** Where the event body lives in S3 (absent in legacy mode, where PostgreSQL holds it). */
  s3?: S3Reference;
}

/**
 * A stored envelope as today's code reads it: its payload upcast to its type's current schema
 * version. Every adapter that parses an envelope out of a store or a message calls this (the S3
 * store's index read, the legacy table's row mapping, the Kafka message parser), so no read path
 * (decide, history, time travel, rebuild, reconciliation, consumers) meets an old version.
 */
export function currentEnvelope<E extends EventEnvelope>(stored: E): E {
  return upcast(stored);
}

/** The one key of a stream in maps and locks (aggregate type and id cannot hold a NUL). */
export const streamKey = (aggregateType: string, aggregateId: string): string => `${aggregateType}\u0000${aggregateId}`;

/** A name-based UUID (v5 layout over SHA-256) of commandId and position. */
export function eventIdFor(commandId: string, position: number): string {
  return nameBasedUuid(`spice-oms:event:${commandId}:${position}`);
}

/** The id of the claim entry a bulk command writes on one instance stream (never an event id). */
export function claimIdFor(commandId: string, aggregateId: string): string {
  return nameBasedUuid(`spice-oms:claim:${commandId}:${aggregateId}`);
}

export function envelopeOf<P>(
  draft: EventDraft<P>,
  o: { commandId: string; position: number; version: number; occurredAt: string; actor: string; storageMode: StorageMode; traceId?: string },
): EventEnvelope<P> {
  return {
    event_id: eventIdFor(o.commandId, o.position),
    event_type: draft.event_type,
    aggregate_type: draft.aggregate_type,
    aggregate_id: draft.aggregate_id,
    aggregate_version: o.version,
    occurred_at: o.occurredAt,
    actor: o.actor,
    command_id: o.commandId,
    schema_version: currentSchemaVersion(draft.event_type),
    payload: draft.payload,
    metadata: { storage_mode: o.storageMode, ...(o.traceId ? { trace_id: o.traceId } : {}) },
  };
}

/**
 * The Kafka message of the new design (DESIGN.md, "Kafka message"): building it for the relay and
 * parsing it for consumers. The body of a large event travels only by its S3 reference.
 */
import { z } from 'zod';
import type { StorageMode } from './storage-mode';
import { currentEnvelope, type EventEnvelope, type S3Reference } from './event-envelope';

export interface EventStub {
  event_id: string;
  event_type: string;
  aggregate_type: string;
  aggregate_id: string;
  aggregate_version: number;
  /** The stored event's schema version (absent in stubs relayed before versions were used: 1). */
  schema_version?: number;
  truncated: true;
}

export interface KafkaEventMessage {
  message_type: 'EVENT';
  payload: EventEnvelope | EventStub;
  s3_reference: S3Reference | null;
  metadata: { storage_mode: StorageMode; relay_timestamp: string };
}

export const HEADER_EVENT_ID = 'event-id';
export const HEADER_EVENT_TYPE = 'event-type';
export const HEADER_AGGREGATE_VERSION = 'aggregate-version';
/**
 * The schema version of the event type's payload as the message carries it. The consumer kit hands
 * handlers every event upcast to the current version whatever this says; a consumer that parses
 * messages itself branches on it (README, "Evolving events").
 */
export const HEADER_SCHEMA_VERSION = 'schema-version';

export function stubOf(e: Pick<EventEnvelope, 'event_id' | 'event_type' | 'aggregate_type' | 'aggregate_id' | 'aggregate_version' | 'schema_version'>): EventStub {
  return {
    event_id: e.event_id,
    event_type: e.event_type,
    aggregate_type: e.aggregate_type,
    aggregate_id: e.aggregate_id,
    aggregate_version: e.aggregate_version,
    schema_version: e.schema_version,
    truncated: true,
  };
}

/** A relayed payload as today's code reads it: an envelope upcast (currentEnvelope), a stub as it is. */
export function currentPayload(payload: EventEnvelope | EventStub): EventEnvelope | EventStub {
  return isStub(payload) ? payload : currentEnvelope(payload);
}

/** The schema version a relayed payload is at (envelope or stub; 1 before versions were used). */
export function schemaVersionOf(payload: EventEnvelope | EventStub): number {
  return payload.schema_version ?? 1;
}

export function isStub(p: unknown): p is EventStub {
  return typeof p === 'object' && p !== null && (p as { truncated?: unknown }).truncated === true;
}

/** Headers and key count against the broker's limit too; this is their generous upper bound. */
const FRAMING_BYTES = 1024;

/**
 * The message value, with the payload replaced by a stub when the whole would not fit in
 * maxBytes. Returns the serialized value so the size is measured once.
 */
export function encodeEventMessage(
  payload: EventEnvelope | EventStub,
  s3: S3Reference | null,
  storageMode: StorageMode,
  maxBytes: number,
  now: Date = new Date(),
): { value: string; stubbed: boolean } {
  const message: KafkaEventMessage = {
    message_type: 'EVENT',
    payload,
    s3_reference: s3,
    metadata: { storage_mode: storageMode, relay_timestamp: now.toISOString() },
  };
  const value = JSON.stringify(message);
  if (isStub(payload) || Buffer.byteLength(value) + FRAMING_BYTES <= maxBytes) return { value, stubbed: isStub(payload) };
  return { value: JSON.stringify({ ...message, payload: stubOf(payload) }), stubbed: true };
}

/** What the ledger keeps as the message payload: the envelope, or its stub when it is too large to ever be sent. */
export function ledgerPayloadOf(envelope: EventEnvelope, s3: S3Reference | null, maxBytes: number): EventEnvelope | EventStub {
  const { stubbed } = encodeEventMessage(envelope, s3, envelope.metadata.storage_mode, maxBytes);
  return stubbed ? stubOf(envelope) : envelope;
}

const s3ReferenceSchema = z.object({
  bucket: z.string().min(1),
  key: z.string().min(1),
  endpoint: z.string(),
  event_id: z.string().min(1),
});

const messageSchema = z.object({
  message_type: z.literal('EVENT'),
  payload: z.looseObject({
    event_id: z.string().min(1),
    event_type: z.string().min(1),
    aggregate_type: z.string().min(1),
    aggregate_id: z.string().min(1),
    aggregate_version: z.number().int().min(1),
  }),
  s3_reference: s3ReferenceSchema.nullable().optional(),
  metadata: z.looseObject({ storage_mode: z.enum(['legacy', 'dual_write', 's3_only']), relay_timestamp: z.string() }),
});

export class InvalidKafkaMessageError extends Error {
  readonly code = 'KAFKA_MESSAGE_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidKafkaMessageError';
  }
}

export function parseEventMessage(value: Buffer | string | null | undefined): KafkaEventMessage {
  if (value === null || value === undefined) throw new InvalidKafkaMessageError('empty Kafka message (tombstone?)');
  let json: unknown;
  try {
    json = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch {
    throw new InvalidKafkaMessageError('Kafka message is not JSON');
  }
  const parsed = messageSchema.safeParse(json);
  if (!parsed.success) {
    throw new InvalidKafkaMessageError(`not an EVENT message: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const m = parsed.data;
  return {
    message_type: 'EVENT',
    payload: currentPayload(m.payload as unknown as EventEnvelope | EventStub),
    s3_reference: m.s3_reference ?? null,
    metadata: m.metadata as KafkaEventMessage['metadata'],
  };
}

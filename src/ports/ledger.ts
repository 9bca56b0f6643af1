/**
 * The delivery ledger (transactional outbox) as the activities, the relay and the API see it: one
 * row per stored event with its global position and delivery state. Implemented over PostgreSQL
 * (src/adapters/postgres/ledger.ts).
 */
import type { EventEnvelope, S3Reference } from '../contracts/event-envelope';
import type { EventStub } from '../contracts/kafka-message';
import type { StorageMode } from '../contracts/storage-mode';

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface LedgerInput {
  envelope: EventEnvelope;
  /** Absent in the legacy storage mode, where PostgreSQL holds the event. */
  s3?: S3Reference | null;
  /** Defaults to the ledger's topic. */
  topic?: string;
  /**
   * A bulk command's claim on an instance stream (see claim() of the event store): recorded as
   * delivered from the start, never sent (the batch event carries the creation). Its row keeps the
   * stream's versions contiguous, so the instance's next event finds its predecessor delivered.
   */
  claim?: boolean;
}

/** The event type of a claim's ledger row: not a creation, nothing for Kafka. */
export const CLAIM_ROW_TYPE = 'INSTANCE_CLAIM';

export interface LedgerRow {
  position: number;
  transactionId: string;
  eventId: string;
  commandId: string | null;
  aggregateType: string;
  aggregateId: string;
  aggregateVersion: number;
  eventType: string;
  topic: string;
  key: string;
  s3Reference: S3Reference | null;
  payload: EventEnvelope | EventStub;
  storageMode: StorageMode;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  updatedAt: Date;
  deliveredAt: Date | null;
  kafkaPartition: number | null;
  /** Kafka offsets are 64-bit; kafkajs hands them around as strings too. */
  kafkaOffset: string | null;
}

export interface RecordResult {
  eventId: string;
  position: number;
  /** false when the event had been recorded before (a retried activity): nothing was written. */
  inserted: boolean;
}

export interface Delivery {
  eventId: string;
  partition: number;
  offset: string;
}

/** Not retryable: S3's conditional write makes two events at one stream version impossible, so this is a corrupted store. */
export class LedgerStreamConflictError extends Error {
  readonly code = 'LEDGER_STREAM_CONFLICT';
  constructor(
    readonly eventIds: string[],
    cause?: unknown,
  ) {
    super(`another event is already recorded at the stream version of ${describeIds(eventIds)}`, { cause });
    this.name = 'LedgerStreamConflictError';
  }
}

/**
 * Retryable, but only a change of code or data will help: PostgreSQL refuses the event's content
 * (a string it cannot hold, stored before the API refused such strings). The other events of the
 * same call were recorded.
 */
export class EventNotRecordableError extends Error {
  readonly code = 'EVENT_NOT_RECORDABLE';
  constructor(
    readonly eventIds: string[],
    cause?: unknown,
  ) {
    super(`the ledger cannot hold the content of ${describeIds(eventIds)}`, { cause });
    this.name = 'EventNotRecordableError';
  }
}

/** Why one event of a record() call was left out while the others were recorded. */
export interface RecordFailure {
  eventId: string;
  code: 'EVENT_NOT_RECORDABLE' | 'LEDGER_STREAM_CONFLICT';
  error: unknown;
}

function describeIds(eventIds: string[]): string {
  return `event(s) ${eventIds.slice(0, 5).join(', ')}${eventIds.length > 5 ? ', ...' : ''}`;
}

export interface Ledger {
  /** Records each event once (by event id); a retried call writes nothing new. */
  record(inputs: LedgerInput[]): Promise<RecordResult[]>;
  /** Like record, but an event the ledger refuses is left out (and listed) while the others are recorded. */
  recordEach(inputs: LedgerInput[]): Promise<{ recorded: RecordResult[]; failed: RecordFailure[] }>;
  byEventIds(eventIds: string[]): Promise<LedgerRow[]>;
  undeliveredOlderThan(seconds: number, limit?: number): Promise<LedgerRow[]>;
}

/**
 * What a Kafka consumer calls to get the event behind a message: the body from S3 by its
 * reference (the source of truth), or the payload embedded in the message when S3 cannot be read.
 * A stub (large event) has no body to fall back to, so then the read fails and is retried.
 */
import type { Registry } from 'prom-client';
import { READ_SOURCES, spiceMetrics } from '../../contracts/metrics';
import type { EventEnvelope, S3Reference } from '../../contracts/event-envelope';
import { isStub, KafkaEventMessage, parseEventMessage } from '../../contracts/kafka-message';

export type ReadSource = (typeof READ_SOURCES)[number];

export interface ReadEventResult {
  envelope: EventEnvelope;
  source: ReadSource;
  message: KafkaEventMessage;
}

export interface EventReaderOptions {
  /** Reads one event by its reference (the S3 store's read), injected to keep this module free of it. */
  readEvent: (ref: S3Reference) => Promise<EventEnvelope>;
  registry?: Registry;
  /** Called when S3 could not be read and the payload served instead. */
  onFallback?: (error: unknown, message: KafkaEventMessage) => void;
}

/** Retryable: neither S3 nor the message can supply the event body right now. */
export class EventUnavailableError extends Error {
  readonly code = 'EVENT_UNAVAILABLE';
  constructor(
    readonly eventId: string,
    cause: unknown,
  ) {
    super(`event ${eventId} cannot be read: S3 failed and the message carries only a stub`, { cause });
    this.name = 'EventUnavailableError';
  }
}

export interface EventReader {
  read(value: Buffer | string | null | undefined): Promise<ReadEventResult>;
  /** The same, for a message already parsed (a consumer reads its event id first, to skip duplicates without touching S3). */
  readMessage(message: KafkaEventMessage): Promise<ReadEventResult>;
  /** Share of this reader's reads served from the payload instead of S3 (0 when nothing was read). */
  fallbackRatio(): number;
  counts(): Record<ReadSource, number>;
}

export function createEventReader(options: EventReaderOptions): EventReader {
  const counter = spiceMetrics(options.registry).eventReads;
  const counts: Record<ReadSource, number> = { s3: 0, payload_fallback: 0 };
  const count = (source: ReadSource) => {
    counts[source] += 1;
    counter.inc({ source });
  };

  const reader: EventReader = {
    read(value) {
      return reader.readMessage(parseEventMessage(value));
    },
    async readMessage(message) {
      const { payload, s3_reference: ref } = message;
      let s3Error: unknown = new Error('message has no s3_reference');
      if (ref) {
        try {
          const envelope = await options.readEvent(ref);
          if (envelope.event_id !== payload.event_id) throw new Error(`S3 returned event ${envelope.event_id} for ${payload.event_id}`);
          count('s3');
          return { envelope, source: 's3', message };
        } catch (err) {
          s3Error = err;
        }
      }
      if (isStub(payload)) throw new EventUnavailableError(payload.event_id, s3Error);
      options.onFallback?.(s3Error, message);
      count('payload_fallback');
      return { envelope: payload, source: 'payload_fallback', message };
    },
    fallbackRatio() {
      const total = counts.s3 + counts.payload_fallback;
      return total === 0 ? 0 : counts.payload_fallback / total;
    },
    counts() {
      return { ...counts };
    },
  };
  return reader;
}

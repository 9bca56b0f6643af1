/** Publishing recorded events to the event bus (Kafka, src/adapters/kafka/kafka-relay.ts), and how it fails. */

/** Retryable: the predecessor will be delivered by whoever holds it (or by reconciliation). */
export class PredecessorNotDelivered extends Error {
  readonly code = 'PREDECESSOR_NOT_DELIVERED';
  constructor(
    readonly blocked: string[],
    readonly published: number,
  ) {
    super(`${blocked.length} event(s) wait for their stream predecessor to be delivered (${published} published)`);
    this.name = 'PredecessorNotDelivered';
  }
}

/** Retryable: the broker is unreachable or refused; the rows stay pending with attempts and last_error. */
export class KafkaPublishError extends Error {
  readonly code = 'KAFKA_PUBLISH_FAILED';
  constructor(
    message: string,
    readonly eventIds: string[],
    cause: unknown,
  ) {
    super(message, { cause });
    this.name = 'KafkaPublishError';
  }
}

/** Not retryable by the relay: the event has no ledger row, so whoever asked must record it first. */
export class EventNotRecordedError extends Error {
  readonly code = 'EVENT_NOT_RECORDED';
  constructor(readonly eventIds: string[]) {
    super(`event(s) not recorded in the ledger: ${eventIds.slice(0, 5).join(', ')}${eventIds.length > 5 ? ', ...' : ''}`);
    this.name = 'EventNotRecordedError';
  }
}

export interface Relay {
  /** Publishes the events (and any undelivered stream predecessors) in stream order; marks them delivered. */
  publishThrough(eventIds: string[]): Promise<unknown>;
}

/** Events of one stream from the event store in force (S3, or PostgreSQL in legacy mode). */
import type { EventEnvelope } from '../contracts/event-envelope';

export interface EventHistory {
  /** Events of one stream in version order, from fromVersion (default 1) up to toVersion when given. */
  readStream(aggregateType: string, aggregateId: string, toVersion?: number, fromVersion?: number): Promise<EventEnvelope[]>;
}

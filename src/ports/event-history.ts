/** Events of one stream from the event store in force (S3, or PostgreSQL in legacy mode). */
import type { EventEnvelope } from '../contracts/event-envelope';
import type { StateSnapshot } from './snapshots';

export interface EventHistory {
  /** Events of one stream in version order, from fromVersion (default 1) up to toVersion when given. */
  readStream(aggregateType: string, aggregateId: string, toVersion?: number, fromVersion?: number): Promise<EventEnvelope[]>;
  /**
   * The newest state snapshot at or below maxVersion, when snapshots are in force (a cache: a
   * reader folds the events after it, and gets the same answer without it).
   */
  snapshotAt?(aggregateType: string, aggregateId: string, maxVersion: number): Promise<StateSnapshot | undefined>;
}

/** What the activities are built over: interfaces, so tests and benchmarks can inject other adapters. */
import type { StorageMode } from '../contracts/storage-mode';
import type { BlobStore } from '../ports/blobs';
import type { DecisionContext } from '../ports/decision-context';
import type { EventEnvelope, S3Reference, StoredEvent } from '../contracts/event-envelope';
import type { EventStore } from '../ports/event-store';
import type { LedgerInput } from '../ports/ledger';

export interface ActivityDeps {
  /** One store per storage mode: the mode in force travels in each workflow's input. */
  eventStores: Record<StorageMode, EventStore>;
  /** Reads an event by its S3 reference (projection of events appended by another worker). */
  s3Events: { readEvent(ref: S3Reference): Promise<StoredEvent> };
  blobs: BlobStore;
  ledger: { record(rows: LedgerInput[]): Promise<unknown> };
  relay: { publishThrough(eventIds: string[]): Promise<unknown> };
  projector: { apply(events: EventEnvelope[]): Promise<unknown> };
  context: DecisionContext;
  bulkBatchSize?: number;
  /** How long a command waits for an older command's undecided claim before voiding it (default 30 s). */
  claimPatienceMs?: number;
  cacheSize?: number;
  clock?: () => Date;
}

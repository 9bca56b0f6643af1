/** What the activities are built over: interfaces, so tests and benchmarks can inject other adapters. */
import type { StorageMode } from '../contracts/storage-mode';
import type { ClassCatalog, DatabaseState, TargetCatalog } from '../domain';
import type { EventEnvelope, S3Reference, StoredEvent } from '../contracts/event-envelope';
import type { EventStore } from '../ports/event-store';
import type { LedgerInput } from '../adapters/postgres/ledger';

export interface ContextQueries {
  /** The database as the read models have it: the life they hold (incarnation) and whether it is active. */
  databaseState(db: string): Promise<DatabaseState>;
  classCatalog(db: string): Promise<ClassCatalog>;
  instanceRefs(db: string, ids: string[]): Promise<TargetCatalog>;
  countInstances(db: string, classId: string): Promise<number>;
  /** The batch stream and version holding an instance created in bulk, or null. */
  bulkOrigin(db: string, instanceId: string): Promise<{ aggregate_id: string; version: number } | null>;
}

export interface BlobStore {
  planOf(commandId: string): S3Reference;
  batchOf(commandId: string, batch: number): S3Reference;
  putJson(ref: S3Reference, body: unknown): Promise<void>;
  putMany(items: { ref: S3Reference; body: unknown }[]): Promise<void>;
  getJson<T = unknown>(ref: S3Reference): Promise<T>;
  getJsonIfExists<T = unknown>(ref: S3Reference): Promise<T | undefined>;
}

export interface ActivityDeps {
  /** One store per storage mode: the mode in force travels in each workflow's input. */
  eventStores: Record<StorageMode, EventStore>;
  /** Reads an event by its S3 reference (projection of events appended by another worker). */
  s3Events: { readEvent(ref: S3Reference): Promise<StoredEvent> };
  blobs: BlobStore;
  ledger: { record(rows: LedgerInput[]): Promise<unknown> };
  relay: { publishThrough(eventIds: string[]): Promise<unknown> };
  projector: { apply(events: EventEnvelope[]): Promise<unknown> };
  context: ContextQueries;
  bulkBatchSize?: number;
  /** How long a command waits for an older command's undecided claim before voiding it (default 30 s). */
  claimPatienceMs?: number;
  cacheSize?: number;
  clock?: () => Date;
}

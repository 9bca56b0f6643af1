/**
 * What the migration workflows' activities need from the stores: pages of what to copy or compare,
 * one stream copied from one event store into the other under its lock, both copies of a stream,
 * and the storage-mode record where each completed run is kept.
 */
import type { StoredEvent } from '../contracts/event-envelope';
import type { MigrationRun, StorageModeState } from '../contracts/storage-mode';
import type { StreamId } from './event-store';

export type StoreName = 'legacy' | 's3';

export interface MigrationStores {
  /** Legacy events in all (claims excluded): the backfill's total. */
  countLegacyEvents(): Promise<number>;
  /** Ledger rows written in s3_only mode after a position: the reverse sync's total. */
  countS3OnlyRows(afterPosition: number): Promise<number>;
  /** The streams of one page of the legacy table in global order, after an opaque checkpoint. */
  legacyPage(from: string | undefined, limit: number): Promise<{ streams: StreamId[]; scanned: number; checkpoint?: string; hasMore: boolean }>;
  /** The streams of one page of ledger rows written in s3_only mode, after a ledger position. */
  s3OnlyPage(afterPosition: number, limit: number): Promise<{ streams: StreamId[]; scanned: number; position: number; hasMore: boolean }>;
  /** Every stream either store knows of (the legacy table's and the ledger's), in (type, id) order after `after`. */
  streamsPage(after: [string, string] | undefined, limit: number): Promise<{ streams: StreamId[]; hasMore: boolean }>;
  /** Copies what `from` holds of the stream past the other store's end, under the stream's lock; returns the events copied. */
  copyStream(from: StoreName, stream: StreamId): Promise<number>;
  /**
   * Both copies of each stream, in the order given, at most `concurrency` streams read from S3 at
   * once. S3 events stored with the very bytes of their legacy copy may be returned without being
   * read (proven by the object's ETag): a difference is still always seen.
   */
  readBoth(streams: StreamId[], concurrency: number): Promise<Array<{ legacy: StoredEvent[]; s3: StoredEvent[] }>>;
}

export type MigrationKind = 'backfill' | 'verify' | 'reverse_sync';

/** The storage-mode record (adapters/postgres/storage-mode-repository.ts). */
export interface StorageModeRecord {
  read(): Promise<StorageModeState>;
  /** Records a completed run; a clean backfill or reverse sync clears its "may lead" flag. */
  recordRun(kind: MigrationKind, run: MigrationRun): Promise<StorageModeState>;
}

/** What the activities are built over: interfaces, so tests and benchmarks can inject other adapters. */
import type { StorageMode } from '../contracts/storage-mode';
import type { BlobStore } from '../ports/blobs';
import type { DecisionContext } from '../ports/decision-context';
import type { EventEnvelope } from '../contracts/event-envelope';
import type { AppendedEvents, EventStore } from '../ports/event-store';
import type { LedgerInput } from '../ports/ledger';
import type { SnapshotStore } from '../ports/snapshots';
import type { CommandBodySeal, PersonalDataCipher, SubjectKeyStore, SubjectPurge } from '../ports/personal-data';

export interface ActivityDeps {
  /**
   * The store of each storage mode, as the composition root built them: the mode in force travels
   * in each workflow's input (a run started before a mode switch finishes in its own mode).
   */
  eventStores: Record<StorageMode, EventStore>;
  /** Reads back events another worker appended (to project them), in whichever mode wrote them. */
  appendedEvents: AppendedEvents;
  blobs: BlobStore;
  ledger: { record(rows: LedgerInput[]): Promise<unknown> };
  relay: { publishThrough(eventIds: string[]): Promise<unknown> };
  projector: { apply(events: EventEnvelope[]): Promise<unknown> };
  context: DecisionContext;
  /**
   * Crypto-shredding (README "Personal data"): seals personal values after decide, opens them
   * for decide; `bodies` opens command bodies kept in S3 and forgets them when their command ends.
   * Absent (unit tests of other concerns): values are stored as they are.
   */
  personalData?: { cipher: PersonalDataCipher; keys: SubjectKeyStore; purge: SubjectPurge; bodies: CommandBodySeal };
  bulkBatchSize?: number;
  /** How long a command waits for an older command's undecided claim before voiding it (default 30 s). */
  claimPatienceMs?: number;
  cacheSize?: number;
  /** Aggregate state snapshots (a cache in S3): without them a cold load folds the whole stream. */
  snapshots?: SnapshotStore;
  /** A snapshot is written once a stream has grown this many events past its last one (0: never). */
  snapshotEvery?: number;
  clock?: () => Date;
}

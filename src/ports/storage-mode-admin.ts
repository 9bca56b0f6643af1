/**
 * The operator's storage-mode and migration operations as the admin endpoints use them;
 * implemented by MigrationOps (src/app/migration-ops.ts), shared with the ops CLI.
 */
import type { StorageMode, VerifyTarget } from '../contracts/storage-mode';

export type MigrationName = 'backfill' | 'reverse_sync' | 'verify';

export interface StorageModeAdmin {
  getMode(): Promise<unknown>;
  /** Throws an error with code STORAGE_MODE_PRECONDITION_FAILED and outcome.unmet when refused (audited either way). */
  setMode(req: { to: StorageMode; actor: string; reason: string; force?: boolean }): Promise<unknown>;
  start(kind: MigrationName, o: { events_per_second?: number; chunk_size?: number; target?: VerifyTarget }): Promise<unknown>;
  status(kind: MigrationName): Promise<unknown | undefined>;
}

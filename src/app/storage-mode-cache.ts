/**
 * Each process's view of the storage mode, read from PostgreSQL at most every `refreshMs`: every
 * process has seen a switch (its mode and flags) within refreshMs, and a switch takes effect for
 * new commands 2 x refreshMs after it was made (effective_at), so no command of the new mode starts
 * before every worker knows the flags it needs. That 2 x refreshMs is the propagation bound.
 */
import type { StorageMode } from '../contracts/storage-mode';
import type { PgStorageModeRepository } from '../adapters/postgres/storage-mode-repository';
import type { StorageModeState } from '../contracts/storage-mode';

export class StorageModeCache {
  private snapshot?: { state: StorageModeState; fetchedAt: number; effectiveAt: number };
  private inFlight?: Promise<StorageModeState>;

  constructor(
    private readonly repo: Pick<PgStorageModeRepository, 'readWithDelay'>,
    readonly refreshMs: number,
    private readonly onChange?: (state: StorageModeState) => void,
  ) {}

  /** The state, at most refreshMs old. */
  async state(): Promise<StorageModeState> {
    if (this.snapshot && Date.now() - this.snapshot.fetchedAt < this.refreshMs) return this.snapshot.state;
    this.inFlight ??= this.refresh().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /** Forget what was read: the next call reads PostgreSQL (after this process switched the mode itself). */
  invalidate(): void {
    this.snapshot = undefined;
  }

  private async refresh(): Promise<StorageModeState> {
    const before = Date.now();
    const { state, pendingMs } = await this.repo.readWithDelay();
    const changed = this.snapshot?.state.epoch !== state.epoch;
    // Measured by PostgreSQL's clock, placed on this one's: no clock skew between processes.
    this.snapshot = { state, fetchedAt: before, effectiveAt: before + pendingMs };
    if (changed) this.onChange?.(state);
    return state;
  }

  /** The mode a command submitted now runs in (captured in its workflow input). */
  async modeForNewCommand(): Promise<StorageMode> {
    const state = await this.state();
    return Date.now() >= this.snapshot!.effectiveAt ? state.mode : (state.previous_mode ?? state.mode);
  }

  async legacyMayLead(): Promise<boolean> {
    return (await this.state()).legacy_may_lead;
  }

  async s3MayLead(): Promise<boolean> {
    return (await this.state()).s3_may_lead;
  }
}

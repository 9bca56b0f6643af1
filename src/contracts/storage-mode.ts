/** Where events go during the migration (DESIGN.md "Storage modes"); recorded in each workflow input and event. */
export type StorageMode = 'legacy' | 'dual_write' | 's3_only';

export function storageModeOf(enableS3: boolean, dualWrite: boolean): StorageMode {
  if (!enableS3) return 'legacy';
  return dualWrite ? 'dual_write' : 's3_only';
}

/*
 * The storage mode as a live setting: its state, what a switch needs first, and what each switch
 * does to the two "may lead" flags the mode stores read (see adapters/mode-event-store.ts). Pure.
 */

export const STORAGE_MODES: readonly StorageMode[] = ['legacy', 'dual_write', 's3_only'];

export interface MigrationRun {
  workflow_id: string;
  started_at: string;
  completed_at: string;
  /** Events copied (backfill, reverse sync) or streams compared (verify). */
  count: number;
  /** Verify only: the differences it found. */
  differences?: number;
  /** Verify only: which store had to hold every event of the other. */
  target?: VerifyTarget;
  /** The run began after the mode it was meant for was in force everywhere and no command of an earlier mode was running. */
  clean_start?: boolean;
}

/** s3: S3 holds every legacy event; legacy: the table holds every S3 event; both: both. */
export type VerifyTarget = 's3' | 'legacy' | 'both';

export interface StorageModeState {
  mode: StorageMode;
  /** The mode new commands got before this one took effect. */
  previous_mode: StorageMode | null;
  /** Counts switches; 1 for the seeded mode. */
  epoch: number;
  changed_at: string;
  /** When new commands start getting `mode`: changed_at plus the propagation bound. */
  effective_at: string;
  changed_by: string;
  reason: string;
  /** The legacy table may hold events S3 lacks: legacy mode was in force since the last clean backfill. */
  legacy_may_lead: boolean;
  /** S3 may hold events the table lacks: s3_only was in force since the last clean reverse sync. */
  s3_may_lead: boolean;
  last_backfill: MigrationRun | null;
  last_verify: MigrationRun | null;
  last_reverse_sync: MigrationRun | null;
}

export interface SwitchRequest {
  to: StorageMode;
  actor: string;
  reason: string;
  force?: boolean;
}

const after = (run: MigrationRun | null, iso: string | undefined) => run !== null && (iso === undefined || run.started_at >= iso);

/** Why a switch may not happen now (empty: it may). */
export function switchPreconditions(state: StorageModeState, to: StorageMode): string[] {
  const unmet: string[] = [];
  if (state.mode === to) unmet.push(`the mode is ${to} already`);
  if (to === 's3_only') {
    if (state.legacy_may_lead) unmet.push('S3 may lack legacy events: run a backfill (in dual_write) first');
    const verify = state.last_verify;
    if (!verify || verify.differences !== 0 || verify.target === 'legacy') unmet.push('no verify of S3 against the legacy table with 0 differences');
    else if (!after(verify, state.last_backfill?.completed_at)) unmet.push('the last verify is older than the last backfill: verify again');
  }
  if (to === 'legacy') {
    if (state.s3_may_lead && !after(state.last_reverse_sync, state.changed_at)) unmet.push(`no reverse sync since ${state.mode} took over: run reverse-sync first`);
  }
  return unmet;
}

/** The flags after a switch: entering a mode that writes one store only makes that store lead. */
export function flagsAfterSwitch(state: Pick<StorageModeState, 'legacy_may_lead' | 's3_may_lead'>, to: StorageMode): Pick<StorageModeState, 'legacy_may_lead' | 's3_may_lead'> {
  return {
    legacy_may_lead: state.legacy_may_lead || to === 'legacy',
    s3_may_lead: state.s3_may_lead || to === 's3_only',
  };
}

/**
 * The flags after a migration run completed. A backfill clears legacy_may_lead, a reverse sync
 * s3_may_lead, only when the run started cleanly (no command of the mode that wrote the leading
 * store was still running) and that mode is not in force again.
 */
export function flagsAfterRun(state: StorageModeState, kind: 'backfill' | 'reverse_sync', run: MigrationRun): Pick<StorageModeState, 'legacy_may_lead' | 's3_may_lead'> {
  const clean = run.clean_start === true && run.started_at >= state.effective_at;
  return {
    legacy_may_lead: kind === 'backfill' && clean && state.mode !== 'legacy' ? false : state.legacy_may_lead,
    s3_may_lead: kind === 'reverse_sync' && clean && state.mode !== 's3_only' ? false : state.s3_may_lead,
  };
}

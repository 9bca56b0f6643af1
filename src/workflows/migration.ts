/**
 * The migration's long runs as workflows: backfill (legacy table -> S3), reverse sync (S3 -> the
 * table, for the events written in s3_only mode) and verify (both stores, stream by stream). Each
 * goes chunk by chunk from a checkpoint kept in the workflow, continues as new every
 * CHUNKS_PER_RUN chunks (its history stays small; the checkpoint and counters travel in the new
 * input), survives any worker's death (a chunk is idempotent and is simply run again), answers
 * the `migrationProgress` query, and can be paused and resumed by signal. Copies are throttled to
 * `events_per_second` with durable timers.
 */
import { condition, continueAsNew, defineQuery, defineSignal, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { MigrationActivities, StreamDifference, DifferenceKind } from '../activities/migration';
import type { VerifyTarget } from '../contracts/storage-mode';

const acts = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

export type MigrationKindName = 'backfill' | 'reverse_sync' | 'verify';

export interface MigrationProgress {
  kind: MigrationKindName;
  started_at: string;
  /** Where the next chunk starts: an opaque checkpoint (backfill), a ledger position (reverse sync), a stream key (verify). */
  cursor?: string;
  /** Events read (backfill, reverse sync: rows of the ledger) or compared (verify). */
  processed: number;
  /** Events written to the target. */
  copied: number;
  streams: number;
  /** What the run expects to process in all, when known (for the ETA). */
  total?: number;
  chunks: number;
  paused: boolean;
  done: boolean;
  events_per_second?: number;
  /** Verify: differences by kind, and the first MAX_LISTED of them. */
  differences?: Partial<Record<DifferenceKind, number>>;
  listed?: StreamDifference[];
  s3_ahead?: number;
  legacy_ahead?: number;
  /** Seconds from started_at to the last chunk. */
  elapsed_s: number;
}

export interface MigrationInput {
  /** Copies per second at most (backfill, reverse sync); absent: as fast as the stores go. */
  events_per_second?: number;
  chunk_size?: number;
  /** Streams copied or compared at once; absent: the worker's MIGRATION_CONCURRENCY. */
  concurrency?: number;
  /** Verify: which store must hold every event of the other. */
  target?: VerifyTarget;
  /** The starter found no command of the mode that wrote the source still running (see flagsAfterRun). */
  clean_start?: boolean;
  /** Carried over continue-as-new. */
  progress?: MigrationProgress;
}

export const migrationProgressQuery = defineQuery<MigrationProgress>('migrationProgress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');

const CHUNKS_PER_RUN = 100;
const MAX_LISTED = 1000;

/** The run's own concurrency bound for an activity's input (absent when the worker's applies: older histories keep their inputs). */
const inFlight = (input: MigrationInput) => (input.concurrency === undefined ? {} : { concurrency: input.concurrency });

export const migrationWorkflowId = (kind: MigrationKindName, taskQueue: string) => `storage-${kind.replace('_', '-')}-${taskQueue}`;

interface Step {
  cursor?: string;
  processed: number;
  copied: number;
  streams: number;
  has_more: boolean;
  elapsed_ms: number;
}

async function run(kind: MigrationKindName, input: MigrationInput, step: (p: MigrationProgress, limit: number) => Promise<Step>, total: () => Promise<number | undefined>): Promise<MigrationProgress> {
  const p: MigrationProgress = input.progress ?? { kind, started_at: new Date().toISOString(), processed: 0, copied: 0, streams: 0, chunks: 0, paused: false, done: false, elapsed_s: 0 };
  if (input.events_per_second !== undefined) p.events_per_second = input.events_per_second;
  setHandler(migrationProgressQuery, () => p);
  setHandler(pauseSignal, () => void (p.paused = true));
  setHandler(resumeSignal, () => void (p.paused = false));
  if (p.total === undefined) p.total = await total();
  const limit = input.chunk_size ?? 500;

  for (let i = 0; i < CHUNKS_PER_RUN; i++) {
    await condition(() => !p.paused);
    const r = await step(p, limit);
    p.cursor = r.cursor;
    p.processed += r.processed;
    p.copied += r.copied;
    p.streams += r.streams;
    p.chunks += 1;
    p.elapsed_s = (Date.now() - Date.parse(p.started_at)) / 1000;
    if (!r.has_more) {
      p.done = true;
      const run = {
        workflow_id: workflowInfo().workflowId,
        started_at: p.started_at,
        completed_at: new Date().toISOString(),
        count: kind === 'verify' ? p.streams : p.copied,
        clean_start: input.clean_start === true,
      };
      await acts.recordMigrationRun({
        kind,
        run: kind === 'verify' ? { ...run, differences: Object.values(p.differences ?? {}).reduce((a, b) => a + (b ?? 0), 0), target: input.target ?? 's3' } : run,
      });
      return p;
    }
    // Throttle: the chunk may not have taken less than its share of a second per events_per_second.
    if (p.events_per_second && p.events_per_second > 0) {
      const owed = (r.processed / p.events_per_second) * 1000 - r.elapsed_ms;
      if (owed > 1) await sleep(Math.round(owed));
    }
  }
  return continueAsNew<(i: MigrationInput) => Promise<MigrationProgress>>({ ...input, progress: p });
}

/** Copies every legacy event into S3 (same id, version, content); idempotent, resumable. */
export async function backfillToS3(input: MigrationInput): Promise<MigrationProgress> {
  return run(
    'backfill',
    input,
    async (p, limit) => {
      const r = await acts.backfillChunk({ checkpoint: p.cursor, limit, ...inFlight(input) });
      return { cursor: r.checkpoint, processed: r.scanned, copied: r.copied, streams: r.streams, has_more: r.has_more, elapsed_ms: r.elapsed_ms };
    },
    () => acts.countLegacyEvents(),
  );
}

/** Copies into the legacy table what S3 holds of every stream written in s3_only mode. */
export async function reverseSyncToLegacy(input: MigrationInput): Promise<MigrationProgress> {
  return run(
    'reverse_sync',
    input,
    async (p, limit) => {
      const r = await acts.reverseSyncChunk({ after_position: Number(p.cursor ?? 0), limit, ...inFlight(input) });
      return { cursor: String(r.position), processed: r.scanned, copied: r.copied, streams: r.streams, has_more: r.has_more, elapsed_ms: r.elapsed_ms };
    },
    () => acts.countS3OnlyRows({ after_position: 0 }),
  );
}

/** Compares both stores stream by stream; the result lists the differences (the first MAX_LISTED) and counts all. */
export async function verifyStores(input: MigrationInput): Promise<MigrationProgress> {
  return run(
    'verify',
    input,
    async (p, limit) => {
      const cursor = p.cursor ? (JSON.parse(p.cursor) as [string, string]) : undefined;
      const r = await acts.verifyChunk({ cursor, limit: Math.min(limit, 200), target: input.target ?? 's3', ...inFlight(input) });
      p.differences ??= {};
      p.listed ??= [];
      for (const d of r.differences) {
        p.differences[d.kind] = (p.differences[d.kind] ?? 0) + d.versions;
        if (p.listed.length < MAX_LISTED) p.listed.push(d);
      }
      p.s3_ahead = (p.s3_ahead ?? 0) + r.s3_ahead;
      p.legacy_ahead = (p.legacy_ahead ?? 0) + r.legacy_ahead;
      return { cursor: r.cursor ? JSON.stringify(r.cursor) : p.cursor, processed: r.events, copied: 0, streams: r.streams, has_more: r.has_more, elapsed_ms: r.elapsed_ms };
    },
    async () => undefined,
  );
}

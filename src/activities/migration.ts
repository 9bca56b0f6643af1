/**
 * Activities of the migration workflows (backfill, verify, reverse sync). Every copy is one
 * stream's tail under that stream's lock (copyTail), the same step the mode stores take on touch:
 * idempotent (a copy starts at the target's end), same event ids, versions and content.
 */
import { createHash } from 'node:crypto';
import { CancelledFailure, Context } from '@temporalio/activity';
import type { EventEnvelope, StoredEvent } from '../contracts/event-envelope';
import type { MigrationRun, StorageModeState, VerifyTarget } from '../contracts/storage-mode';
import { EventStoreError, type StreamId } from '../ports/event-store';
import type { MigrationKind, MigrationStores, StorageModeRecord, StoreName } from '../ports/migration';
import { mapLimit } from '../lib/map-limit';
import { withFailureMapping } from './failures';

export interface MigrationDeps {
  stores: MigrationStores;
  modes: StorageModeRecord;
  /** Streams copied or compared at once, unless a run asks for another bound (MIGRATION_CONCURRENCY). */
  concurrency?: number;
}

export interface ChunkResult {
  checkpoint?: string;
  /** Events read from the source in this chunk. */
  scanned: number;
  /** Events written to the target (0 for events the target held already). */
  copied: number;
  streams: number;
  has_more: boolean;
  elapsed_ms: number;
}

export type DifferenceKind = 'missing_in_s3' | 'missing_in_legacy' | 'event_id_differs' | 'content_differs';

export interface StreamDifference {
  aggregate_type: string;
  aggregate_id: string;
  kind: DifferenceKind;
  /** The first version that differs and how many versions do. */
  from_version: number;
  versions: number;
  legacy_event_id?: string;
  s3_event_id?: string;
}

export interface VerifyChunkResult {
  cursor?: [string, string];
  streams: number;
  events: number;
  differences: StreamDifference[];
  /** Versions S3 holds past the table's end that the target does not require (target s3). */
  s3_ahead: number;
  legacy_ahead: number;
  has_more: boolean;
  elapsed_ms: number;
}

/** A hash of what makes an event itself: same id, place, type, time and payload (keys in any order). */
export function contentHash(e: EventEnvelope): string {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canonical)
      : v && typeof v === 'object'
        ? Object.fromEntries(
            Object.keys(v as object)
              .sort()
              .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
          )
        : v;
  const body = {
    event_id: e.event_id,
    event_type: e.event_type,
    aggregate_type: e.aggregate_type,
    aggregate_id: e.aggregate_id,
    aggregate_version: e.aggregate_version,
    occurred_at: new Date(e.occurred_at).toISOString(),
    payload: canonical(e.payload),
  };
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

/** Compares one stream's two copies version by version. */
export function compareStream(
  stream: StreamId,
  legacy: StoredEvent[],
  s3: StoredEvent[],
  target: VerifyTarget,
): { differences: StreamDifference[]; s3_ahead: number; legacy_ahead: number; events: number } {
  const differences: StreamDifference[] = [];
  const add = (kind: DifferenceKind, v: number, l?: EventEnvelope, s?: EventEnvelope) => {
    const last = differences[differences.length - 1];
    if (last && last.kind === kind && last.from_version + last.versions === v) last.versions += 1;
    else differences.push({ ...stream, kind, from_version: v, versions: 1, ...(l ? { legacy_event_id: l.event_id } : {}), ...(s ? { s3_event_id: s.event_id } : {}) });
  };
  const max = Math.max(legacy.length, s3.length);
  let s3Ahead = 0;
  let legacyAhead = 0;
  for (let i = 0; i < max; i++) {
    const l = legacy[i]?.envelope;
    const s = s3[i]?.envelope;
    const v = i + 1;
    if (l && s) {
      if (l.event_id !== s.event_id) add('event_id_differs', v, l, s);
      else if (l.event_type !== s.event_type || (!isClaim(l) && contentHash(l) !== contentHash(s))) add('content_differs', v, l, s);
    } else if (l) {
      if (target === 'legacy') legacyAhead += 1;
      else add('missing_in_s3', v, l);
    } else if (s) {
      if (target === 's3') s3Ahead += 1;
      else add('missing_in_legacy', v, undefined, s);
    }
  }
  return { differences, s3_ahead: s3Ahead, legacy_ahead: legacyAhead, events: max };
}

/** Claim entries carry no event body: their id and resolved type are what both stores must agree on. */
function isClaim(e: EventEnvelope): boolean {
  return typeof (e.metadata as { claimed_by?: unknown } | undefined)?.claimed_by === 'string';
}

/** How often a running chunk tells Temporal it is alive (well under the workflow's 15 s heartbeat timeout). */
const BEAT_EVERY_MS = 3_000;

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (a script or a test)
  }
}

/**
 * Runs a chunk while heartbeating on a timer. A beat per finished stream is not enough: with many
 * streams in flight on a saturated S3, the first of them may finish after the heartbeat timeout,
 * Temporal then starts the chunk again elsewhere while the first attempt still runs, and both copy
 * the same streams. Once Temporal cancels the attempt (its heartbeat timed out after all, or the
 * run was cancelled), `stopped()` turns true and no further stream is started.
 */
async function beating<T>(details: unknown, fn: (stopped: () => boolean) => Promise<T>): Promise<T> {
  const ctx = activityContext();
  if (!ctx) return fn(() => false);
  ctx.heartbeat(details);
  const timer = setInterval(() => ctx.heartbeat(details), BEAT_EVERY_MS);
  try {
    return await fn(() => ctx.cancellationSignal.aborted);
  } finally {
    clearInterval(timer);
  }
}

/**
 * Attempts of one stream's copy inside a chunk. A connect timeout or an S3 hiccup on a loaded
 * machine is retried here, where the chunk's other streams keep their work, instead of failing the
 * chunk into Temporal's retry backoff (the copy is idempotent). A store's verdict is final.
 */
const STREAM_ATTEMPTS = 3;

export function createMigrationActivities(d: MigrationDeps) {
  const concurrency = d.concurrency ?? 16;

  async function copyOne(from: StoreName, stream: StreamId): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await d.stores.copyStream(from, stream);
      } catch (error) {
        if (error instanceof EventStoreError || attempt >= STREAM_ATTEMPTS) throw error;
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  }

  /** Copies each stream's tail from one store to the other; returns the events copied. */
  async function copyStreams(from: StoreName, streams: StreamId[], progress: unknown, inFlight = concurrency): Promise<number> {
    // A failed stream fails the chunk only once the streams in flight have settled: its retry must
    // not run beside them (they hold stream locks and connections the retry would wait for).
    let failure: { error: unknown } | undefined;
    const counts = await beating(progress, (stopped) =>
      mapLimit(streams, inFlight, async (stream) => {
        if (failure || stopped()) return 0;
        try {
          return await copyOne(from, stream);
        } catch (error) {
          failure ??= { error };
          return 0;
        }
      }),
    );
    if (failure) throw failure.error;
    if (activityContext()?.cancellationSignal.aborted) throw new CancelledFailure('the chunk was cancelled (heartbeat timeout or cancel): its retry copies the rest');
    return counts.reduce((a, b) => a + b, 0);
  }

  return withFailureMapping({
    async migrationState(): Promise<StorageModeState> {
      return d.modes.read();
    },

    async countLegacyEvents(): Promise<number> {
      return d.stores.countLegacyEvents();
    },

    async countS3OnlyRows(a: { after_position: number }): Promise<number> {
      return d.stores.countS3OnlyRows(a.after_position);
    },

    /** One page of the legacy table (global order), its streams' tails copied into S3. */
    async backfillChunk(a: { checkpoint?: string; limit: number; concurrency?: number }): Promise<ChunkResult> {
      const started = Date.now();
      const page = await d.stores.legacyPage(a.checkpoint, a.limit);
      const copied = await copyStreams('legacy', page.streams, { checkpoint: a.checkpoint }, a.concurrency);
      return { checkpoint: page.checkpoint, scanned: page.scanned, copied, streams: page.streams.length, has_more: page.hasMore, elapsed_ms: Date.now() - started };
    },

    /** One page of ledger rows written in s3_only mode, their streams' S3 tails copied into the table. */
    async reverseSyncChunk(a: { after_position: number; limit: number; concurrency?: number }): Promise<ChunkResult & { position: number }> {
      const started = Date.now();
      const page = await d.stores.s3OnlyPage(a.after_position, a.limit);
      const copied = await copyStreams('s3', page.streams, { position: a.after_position }, a.concurrency);
      return { position: page.position, checkpoint: String(page.position), scanned: page.scanned, copied, streams: page.streams.length, has_more: page.hasMore, elapsed_ms: Date.now() - started };
    },

    /** One page of streams (in (type, id) order after the cursor) compared in both stores. */
    async verifyChunk(a: { cursor?: [string, string]; limit: number; target: VerifyTarget; concurrency?: number }): Promise<VerifyChunkResult> {
      const started = Date.now();
      const page = await d.stores.streamsPage(a.cursor, a.limit);
      const both = await beating({ cursor: a.cursor }, () => d.stores.readBoth(page.streams, a.concurrency ?? concurrency));
      const results = page.streams.map((stream, i) => compareStream(stream, both[i].legacy, both[i].s3, a.target));
      const last = page.streams[page.streams.length - 1];
      return {
        cursor: last ? [last.aggregate_type, last.aggregate_id] : a.cursor,
        streams: page.streams.length,
        events: results.reduce((n, r) => n + r.events, 0),
        differences: results.flatMap((r) => r.differences),
        s3_ahead: results.reduce((n, r) => n + r.s3_ahead, 0),
        legacy_ahead: results.reduce((n, r) => n + r.legacy_ahead, 0),
        has_more: page.hasMore,
        elapsed_ms: Date.now() - started,
      };
    },

    async recordMigrationRun(a: { kind: MigrationKind; run: MigrationRun }): Promise<StorageModeState> {
      return d.modes.recordRun(a.kind, a.run);
    },
  });
}

export type MigrationActivities = ReturnType<typeof createMigrationActivities>;

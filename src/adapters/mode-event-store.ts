/**
 * The event store of one storage mode. Each mode writes to a primary store, which decides
 * optimistic concurrency, and may have to bring the other store's events in first:
 *
 *   legacy      primary = PostgreSQL table; S3's tail is copied in while S3 may lead (after a
 *               switch from an S3 mode, until a reverse sync has caught the table up)
 *   dual_write  primary = S3; the table's tail is copied in first, and every append is mirrored
 *               into the table before it counts (a failing copy fails the append, which is
 *               retried; a retry that finds its command stored writes the copy it missed)
 *   s3_only     primary = S3; the table's tail is copied in while the table may lead (after a
 *               switch from legacy, until a backfill has caught S3 up)
 *
 * Every write runs under the stream's lock (StreamLocker), shared by all modes and processes, so
 * commands of the old mode that are still running after a switch and commands of the new one take
 * turns on a stream and each sees the other's events. Reads follow the mode: the primary, plus the
 * other store's tail when it may lead (counted in spice_event_store_read_fallback_total).
 */
import type { StorageMode } from '../contracts/storage-mode';
import type { EventEnvelope, StoredEvent } from '../contracts/event-envelope';
import type { AppendOptions, AppendResult, ClaimDecision, CommandEvents, CommandRecord, EventStore, ExpectedVersion, ReadAllOptions, ReadStreamOptions, StreamId } from '../ports/event-store';
import { CommandAppendedError } from '../ports/event-store';
import { copyTail, StreamLocker } from './stream-sync';
import { spiceMetrics } from '../contracts/metrics';

export interface ModeStoreOptions {
  mode: StorageMode;
  primary: EventStore;
  secondary: EventStore;
  /** Every append is copied into the secondary before it counts (dual_write). */
  mirror: boolean;
  /** Whether the secondary may hold events the primary lacks (asked per call: it changes with switches). */
  secondaryMayLead: () => boolean | Promise<boolean>;
  locks: StreamLocker;
}

export class ModeEventStore implements EventStore {
  constructor(private readonly o: ModeStoreOptions) {}

  get mode(): StorageMode {
    return this.o.mode;
  }

  private async catchUp(stream: StreamId): Promise<void> {
    if (!(await this.o.secondaryMayLead())) return;
    const copied = await copyTail(this.o.secondary, this.o.primary, stream);
    if (copied > 0) spiceMetrics().caughtUpEvents.inc({ mode: this.o.mode }, copied);
  }

  private async mirror(stream: StreamId): Promise<void> {
    if (this.o.mirror) await copyTail(this.o.primary, this.o.secondary, stream);
  }

  /** The events just appended go to the secondary as they are when it ends right before them (no read back). */
  private async mirrorAppended(stream: StreamId, events: EventEnvelope[], result: AppendResult, options: AppendOptions): Promise<void> {
    if (!this.o.mirror || result.events.length === 0) return;
    const first = result.events[0].version;
    const contiguous = result.events.every((r, i) => r.version === first + i);
    if (contiguous && (await this.o.secondary.currentVersion(stream)) === first - 1) {
      await this.o.secondary.append(
        stream,
        first - 1,
        events.map((e, i) => ({ ...e, aggregate_version: first + i })),
        options,
      );
    } else {
      await this.mirror(stream);
    }
  }

  /** A stored command's copy, with its marker when the secondary ends right before it, then anything after it. */
  private async mirrorRecord(record: CommandRecord): Promise<void> {
    if (!this.o.mirror) return;
    const first = record.events[0]?.envelope.aggregate_version;
    if (first !== undefined && (await this.o.secondary.currentVersion(record.stream)) === first - 1) {
      const mark = { command_id: record.command_id, request_hash: record.request_hash };
      try {
        await this.o.secondary.append(
          record.stream,
          first - 1,
          record.events.map((e) => e.envelope),
          { command: mark },
        );
      } catch (err) {
        if (!(err instanceof CommandAppendedError)) throw err;
      }
    }
    await this.mirror(record.stream);
  }

  /** Under the stream's lock: the other store's tail first, then the append, then its mirror copy. */
  async append(stream: StreamId, expectedVersion: ExpectedVersion, events: EventEnvelope[], options: AppendOptions = {}): Promise<AppendResult> {
    return this.o.locks.run(stream, async () => {
      await this.catchUp(stream);
      try {
        const result = await this.o.primary.append(stream, expectedVersion, events, options);
        await this.mirrorAppended(stream, events, result, options);
        return result;
      } catch (err) {
        // An earlier attempt stored the command and may have died before its copy.
        if (err instanceof CommandAppendedError) await this.mirrorRecord(err.record);
        throw err;
      }
    });
  }

  /**
   * Group commit under one turn of the stream's lock: the primary's own group append when it has
   * one (S3), else one append per command; each command's events are mirrored with its marker.
   */
  async appendCommands(stream: StreamId, expectedVersion: number, commands: CommandEvents[]): Promise<AppendResult> {
    return this.o.locks.run(stream, async () => {
      await this.catchUp(stream);
      const results: AppendResult[] = [];
      if (this.o.primary.appendCommands) {
        const all = await this.o.primary.appendCommands(stream, expectedVersion, commands);
        let at = 0;
        for (const c of commands) {
          const events = all.events.slice(at, (at += c.events.length));
          results.push({ events, nextExpectedVersion: events[events.length - 1]?.version ?? expectedVersion });
        }
      } else {
        let expected = expectedVersion;
        for (const c of commands) {
          const result = await this.o.primary.append(stream, expected, c.events, { command: c.command });
          results.push(result);
          expected = result.nextExpectedVersion;
        }
      }
      for (const [i, c] of commands.entries()) await this.mirrorAppended(stream, c.events, results[i], { command: c.command });
      return { events: results.flatMap((r) => r.events), nextExpectedVersion: results[results.length - 1]?.nextExpectedVersion ?? expectedVersion };
    });
  }

  /** A retry that finds its command stored (by an attempt that died before its copy) writes the copy first. */
  async findCommand(commandId: string): Promise<CommandRecord | undefined> {
    const record = await this.o.primary.findCommand(commandId);
    if (record && this.o.mirror) await this.o.locks.run(record.stream, () => this.mirrorRecord(record));
    return record;
  }

  async claim(entry: EventEnvelope): Promise<'claimed' | 'taken'> {
    const stream = { aggregate_type: entry.aggregate_type, aggregate_id: entry.aggregate_id };
    return this.o.locks.run(stream, async () => {
      await this.catchUp(stream);
      const result = await this.o.primary.claim(entry);
      if (!this.o.mirror) return result;
      // The entry as written (a read would give it resolved, CLAIM_PENDING, before its decision); a
      // retried claim may find its own entry without the copy.
      const [held] = await this.o.primary.readStream(stream, { fromVersion: entry.aggregate_version, toVersion: entry.aggregate_version });
      const mine = result === 'claimed' || held?.envelope.event_id === entry.event_id;
      if (mine && (await this.o.secondary.currentVersion(stream)) === entry.aggregate_version - 1) await this.o.secondary.claim(entry);
      else await this.mirror(stream);
      return result;
    });
  }

  async decideClaims(commandId: string, decision: ClaimDecision, mark: { request_hash: string; stream: StreamId }): Promise<ClaimDecision> {
    const decided = await this.o.primary.decideClaims(commandId, decision, mark);
    if (this.o.mirror) await this.o.secondary.decideClaims(commandId, decided, mark);
    return decided;
  }

  async readStream(stream: StreamId, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    const events = await this.o.primary.readStream(stream, options);
    if (!(await this.o.secondaryMayLead())) return events;
    const from = events.length ? events[events.length - 1].envelope.aggregate_version + 1 : Math.max(1, options.fromVersion ?? 1);
    if (options.toVersion !== undefined && options.toVersion < from) return events;
    const tail = await this.o.secondary.readStream(stream, { fromVersion: from, toVersion: options.toVersion });
    if (tail.length === 0) return events;
    spiceMetrics().readFallbacks.inc({ mode: this.o.mode });
    return [...events, ...tail];
  }

  async currentVersion(stream: StreamId): Promise<number> {
    const [primary, secondary] = await Promise.all([
      this.o.primary.currentVersion(stream),
      Promise.resolve(this.o.secondaryMayLead()).then((may) => (may ? this.o.secondary.currentVersion(stream) : 0)),
    ]);
    return Math.max(primary, secondary);
  }

  /** The primary's order and checkpoints: what the reconciliation and rebuild of this mode read. */
  readAll(options?: ReadAllOptions) {
    return this.o.primary.readAll(options);
  }

  async aggregateAt(stream: StreamId, version: number): Promise<StoredEvent[]> {
    if (version <= 0) return [];
    return this.readStream(stream, { fromVersion: 1, toVersion: version });
  }
}

/**
 * The event store of whichever mode is in force, for readers that are not commands (the API's
 * history, the rebuild, the reconciliation). readAll keeps one checkpoint per primary store in its
 * opaque checkpoint ({"legacy": ..., "s3": ...}), so a reader resumes where it was in each store
 * across switches; a checkpoint written before (a bare string) belongs to `initialFamily`.
 */
export class CurrentModeEventStore implements EventStore {
  constructor(
    private readonly stores: Record<StorageMode, EventStore>,
    private readonly mode: () => Promise<StorageMode>,
    private readonly initialFamily: StoreFamily,
  ) {}

  private async current(): Promise<EventStore> {
    return this.stores[await this.mode()];
  }

  async append(stream: StreamId, expectedVersion: ExpectedVersion, events: EventEnvelope[], options?: AppendOptions) {
    return (await this.current()).append(stream, expectedVersion, events, options);
  }
  async claim(entry: EventEnvelope) {
    return (await this.current()).claim(entry);
  }
  async decideClaims(commandId: string, decision: ClaimDecision, mark: { request_hash: string; stream: StreamId }) {
    return (await this.current()).decideClaims(commandId, decision, mark);
  }
  async findCommand(commandId: string) {
    return (await this.current()).findCommand(commandId);
  }
  async readStream(stream: StreamId, options?: ReadStreamOptions) {
    return (await this.current()).readStream(stream, options);
  }
  async currentVersion(stream: StreamId) {
    return (await this.current()).currentVersion(stream);
  }
  async aggregateAt(stream: StreamId, version: number) {
    return (await this.current()).aggregateAt(stream, version);
  }

  async readAll(options: ReadAllOptions = {}) {
    const mode = await this.mode();
    const family = familyOf(mode);
    const checkpoints = parseCheckpoints(options.from, this.initialFamily);
    const page = await this.stores[mode].readAll({ ...options, from: checkpoints[family] });
    const next = { ...checkpoints, ...(page.checkpoint !== undefined ? { [family]: page.checkpoint } : {}) };
    return { ...page, checkpoint: Object.keys(next).length ? JSON.stringify(next) : undefined };
  }
}

export type StoreFamily = 'legacy' | 's3';
export const familyOf = (mode: StorageMode): StoreFamily => (mode === 'legacy' ? 'legacy' : 's3');

function parseCheckpoints(from: string | undefined, initial: StoreFamily): Partial<Record<StoreFamily, string>> {
  if (from === undefined) return {};
  if (from.startsWith('{')) {
    const parsed = JSON.parse(from) as Partial<Record<StoreFamily, string>>;
    return { ...(typeof parsed.legacy === 'string' ? { legacy: parsed.legacy } : {}), ...(typeof parsed.s3 === 'string' ? { s3: parsed.s3 } : {}) };
  }
  return { [initial]: from };
}

/**
 * The dual_write storage mode of the migration: S3 stays the source of truth and decides
 * concurrency; every event it accepted is then copied into the legacy PostgreSQL table at the same
 * version, so a rollback to the legacy mode finds a complete history. Reads come from S3.
 */
import type { EventEnvelope } from '../contracts/event-envelope';
import {
  CommandAppendedError,
  type ClaimDecision,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type ExpectedVersion,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StreamId,
} from '../ports/event-store';

export class DualWriteEventStore implements EventStore {
  constructor(
    private readonly primary: EventStore,
    private readonly legacy: EventStore,
  ) {}

  async append(stream: StreamId, expectedVersion: ExpectedVersion, events: EventEnvelope[], options: AppendOptions = {}): Promise<AppendResult> {
    let result: AppendResult;
    try {
      result = await this.primary.append(stream, expectedVersion, events, options);
    } catch (err) {
      // An earlier attempt stored the command in S3 and may have died before its copy.
      if (err instanceof CommandAppendedError)
        await this.copy(
          err.record.stream,
          err.record.events.map((e) => e.envelope),
          options,
        );
      throw err;
    }
    if (result.events.length === 0) return result;
    await this.copy(
      stream,
      events.map((e, i) => ({ ...e, aggregate_version: result.events[i].version })),
      options,
    );
    return result;
  }

  /** The copy carries the versions S3 assigned; a retry of the copy is a no-op in the legacy store. */
  private async copy(stream: StreamId, copies: EventEnvelope[], options: AppendOptions): Promise<void> {
    if (copies.length === 0) return;
    try {
      await this.legacy.append(stream, copies[0].aggregate_version - 1, copies, options);
    } catch (err) {
      if (!(err instanceof CommandAppendedError)) throw err;
    }
  }

  async claim(entry: EventEnvelope): Promise<'claimed' | 'taken'> {
    const result = await this.primary.claim(entry);
    const stream = { aggregate_type: entry.aggregate_type, aggregate_id: entry.aggregate_id };
    // A retried claim may find its own S3 entry without the copy: the legacy stream must not get a gap.
    const mine = result === 'claimed' || (await this.primary.readStream(stream, { fromVersion: entry.aggregate_version, toVersion: entry.aggregate_version }))[0]?.envelope.event_id === entry.event_id;
    if (mine) await this.legacy.claim(entry);
    return result;
  }

  async decideClaims(commandId: string, decision: ClaimDecision, mark: { request_hash: string; stream: StreamId }): Promise<ClaimDecision> {
    const decided = await this.primary.decideClaims(commandId, decision, mark);
    await this.legacy.decideClaims(commandId, decided, mark);
    return decided;
  }

  findCommand(commandId: string) {
    return this.primary.findCommand(commandId);
  }

  readStream(stream: StreamId, options?: ReadStreamOptions) {
    return this.primary.readStream(stream, options);
  }

  currentVersion(stream: StreamId) {
    return this.primary.currentVersion(stream);
  }

  readAll(options?: ReadAllOptions) {
    return this.primary.readAll(options);
  }

  aggregateAt(stream: StreamId, version: number) {
    return this.primary.aggregateAt(stream, version);
  }
}

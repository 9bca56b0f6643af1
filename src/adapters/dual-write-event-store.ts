/**
 * The dual_write storage mode of the migration: S3 stays the source of truth and decides
 * concurrency; every event it accepted is then copied into the legacy PostgreSQL table at the same
 * version, so a rollback to the legacy mode finds a complete history. Reads come from S3.
 */
import type { EventEnvelope } from './event-envelope';
import type { AppendResult, EventStore, ExpectedVersion, ReadAllOptions, ReadStreamOptions, StreamId } from './event-store';

export class DualWriteEventStore implements EventStore {
  constructor(
    private readonly primary: EventStore,
    private readonly legacy: EventStore,
  ) {}

  async append(stream: StreamId, expectedVersion: ExpectedVersion, events: EventEnvelope[]): Promise<AppendResult> {
    const result = await this.primary.append(stream, expectedVersion, events);
    if (result.events.length === 0) return result;
    // The copy carries the versions S3 assigned; a retry of the copy is a no-op in the legacy store.
    const first = result.events[0].version;
    const copies = events.map((e, i) => ({ ...e, aggregate_version: result.events[i].version }));
    await this.legacy.append(stream, first - 1, copies);
    return result;
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

/**
 * Reads back appended events across storage modes: by S3 reference when the append gave one (S3
 * stores), otherwise at its stream version in the legacy PostgreSQL store.
 */
import type { EventEnvelope, S3Reference, StoredEvent } from '../contracts/event-envelope';
import type { AppendedEventLocation, AppendedEvents, EventStore } from '../ports/event-store';

export class AppendedEventReader implements AppendedEvents {
  constructor(
    private readonly s3: { readEvent(ref: S3Reference): Promise<StoredEvent> },
    private readonly legacy: Pick<EventStore, 'readStream'>,
  ) {}

  async read(at: AppendedEventLocation): Promise<EventEnvelope> {
    if (at.s3) return (await this.s3.readEvent(at.s3)).envelope;
    const [e] = await this.legacy.readStream({ aggregate_type: at.aggregate_type, aggregate_id: at.aggregate_id }, { fromVersion: at.version, toVersion: at.version });
    if (!e) throw new Error(`event ${at.event_id} not found at ${at.aggregate_type}/${at.aggregate_id} v${at.version}`);
    return e.envelope;
  }
}

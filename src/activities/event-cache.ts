/**
 * Events this worker just appended, kept for the delivery and projection activities of the same
 * command that usually run on the same worker: they skip an S3 read. Only a shortcut: a miss reads S3.
 */
import type { EventEnvelope } from '../contracts/event-envelope';

export class EventCache {
  private readonly map = new Map<string, EventEnvelope>();

  constructor(private readonly capacity: number) {}

  put(e: EventEnvelope): void {
    this.map.delete(e.event_id);
    this.map.set(e.event_id, e);
    // Map keeps insertion order: the first key is the least recently stored.
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }

  get(eventId: string): EventEnvelope | undefined {
    return this.map.get(eventId);
  }
}

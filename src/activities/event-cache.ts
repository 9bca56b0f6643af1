/**
 * Events this worker just appended, kept for the delivery and projection activities of the same
 * command that usually run on the same worker: they skip an S3 read. Only a shortcut: a miss reads S3.
 *
 * It also knows which events one group commit stored together: the projection of a group's later
 * event brings the earlier ones along (already applied: skipped), so the group's projections,
 * arriving together, find no gap to read back from the store one by one.
 */
import type { EventEnvelope } from '../contracts/event-envelope';

export class EventCache {
  private readonly map = new Map<string, EventEnvelope>();
  private readonly groups = new Map<string, { ids: readonly string[]; at: number }>();

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

  /** The events one commit stored, in stream order. */
  putGroup(eventIds: readonly string[]): void {
    if (eventIds.length < 2) return;
    eventIds.forEach((id, at) => {
      this.groups.delete(id);
      this.groups.set(id, { ids: eventIds, at });
    });
    while (this.groups.size > this.capacity) this.groups.delete(this.groups.keys().next().value as string);
  }

  /** The cached events its group commit stored before `eventId` (none when it was committed alone). */
  before(eventId: string): EventEnvelope[] {
    const group = this.groups.get(eventId);
    if (!group) return [];
    return group.ids
      .slice(0, group.at)
      .map((id) => this.map.get(id))
      .filter((e): e is EventEnvelope => e !== undefined);
  }
}

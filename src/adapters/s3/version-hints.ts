/**
 * The last version this process saw per stream, for at most `capacity` streams (least recently
 * noted dropped first). A hint is only ever too low: it saves a LIST, never decides a conflict alone.
 */
import { streamKey } from '../../contracts/event-envelope';
import type { StreamId } from '../../ports/event-store';

export class VersionHints {
  private readonly hints = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  get(stream: StreamId): number | undefined {
    return this.hints.get(streamKey(stream.aggregate_type, stream.aggregate_id));
  }

  note(stream: StreamId, version: number): void {
    const k = streamKey(stream.aggregate_type, stream.aggregate_id);
    const prev = this.hints.get(k);
    if (prev !== undefined && prev >= version) return;
    this.hints.delete(k);
    this.hints.set(k, version);
    if (this.hints.size > this.capacity) {
      const oldest = this.hints.keys().next().value;
      if (oldest !== undefined) this.hints.delete(oldest);
    }
  }
}

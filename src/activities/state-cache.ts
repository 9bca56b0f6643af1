/**
 * Aggregate states this worker has folded, by stream. A later command on the stream reads only the
 * events after the cached version (one LIST and a GET per new event) instead of the whole stream;
 * that is what keeps a hot aggregate with many concurrent writers cheap. Only a shortcut: the
 * conditional append still decides, and a miss folds the stream from the start.
 */
import type { AggregateState } from '../domain';

export interface CachedStream {
  state: AggregateState;
  /** occurred_at of the state's last event (what a snapshot of it records). */
  as_of: string | null;
  /** The version of the stream's newest snapshot known here (Infinity: never snapshot this stream). */
  snapshotAt: number;
}

export class StreamStateCache {
  private readonly map = new Map<string, CachedStream>();

  constructor(private readonly capacity: number) {}

  get(key: string): CachedStream | undefined {
    const hit = this.map.get(key);
    if (hit) {
      this.map.delete(key);
      this.map.set(key, hit);
    }
    return hit;
  }

  set(key: string, value: CachedStream): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }

  delete(key: string): void {
    this.map.delete(key);
  }
}

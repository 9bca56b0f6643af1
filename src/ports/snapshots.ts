/**
 * Snapshots of aggregate states: a cache beside the event store, never a source of truth. Loading
 * an aggregate starts from the newest usable snapshot and folds only the events after it, so the
 * cost of a cold load no longer grows with the stream's length. Any snapshot may be deleted at any
 * time: the answer is then folded from the events, and is the same.
 */
import type { AggregateState } from '../domain';
import type { StreamId } from './event-store';

export interface StateSnapshot {
  /** The stream's state at its version state.version. */
  state: AggregateState;
  /** occurred_at of the event at that version (what time travel answers as `as_of`). */
  as_of: string | null;
}

export interface SnapshotStore {
  /**
   * The newest usable snapshot at or below maxVersion (any version when not given), or undefined.
   * A snapshot that cannot be read back as this code's state (corrupt, another stream's, of another
   * state version) is passed over, never an error.
   */
  latest(stream: StreamId, maxVersion?: number): Promise<StateSnapshot | undefined>;
  put(stream: StreamId, snapshot: StateSnapshot): Promise<void>;
}

/**
 * Stream locks shared by every writer of every storage mode and process (see adapters/stream-sync.ts).
 */
import type { Pool } from 'pg';
import type { StreamId } from '../../ports/event-store';
import type { StreamLocker } from '../stream-sync';
import { KeyedLock } from '../../lib/keyed-lock';

/** The advisory lock space of stream locks (the first key of pg_advisory_lock(int, int)). */
const STREAM_LOCK_SPACE = 0x5ee5;

/**
 * PostgreSQL session advisory locks on a pool of their own: a writer waiting for a lock holds a
 * connection of this pool only, so the holder always finds one in the main pool for its work (one
 * shared pool would deadlock once every connection waits). A process that dies drops its locks.
 * Writers of one stream in this process take turns in memory first, so a hot stream holds one
 * connection of the pool, not all of them, and the other streams keep theirs.
 */
export class PgStreamLocker implements StreamLocker {
  private readonly local = new KeyedLock();

  constructor(private readonly pool: Pool) {}

  run<T>(stream: StreamId, fn: () => Promise<T>): Promise<T> {
    const key = `${stream.aggregate_type}/${stream.aggregate_id}`;
    return this.local.run(key, () => this.runLocked(key, fn));
  }

  private async runLocked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [STREAM_LOCK_SPACE, key]);
      try {
        return await fn();
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [STREAM_LOCK_SPACE, key]).catch((err: Error) => {
          broken = err; // the connection is dropped below, which drops the lock with it
        });
      }
    } catch (err) {
      broken ??= err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
  }
}

/**
 * Group commit per key: calls under one key never overlap, and the calls that arrive while one is in
 * flight are handed over together, in arrival order, as the next batch. Calls under other keys run
 * freely. A hot stream then costs one turn (one load, one append, one ledger transaction) per batch
 * instead of one per command, and a lone call runs at once, exactly as it would without batching.
 *
 * A batch runs in the async context of its first call (which is still waiting for it), so what it
 * does is traced and timed as part of that call, never of a call that has returned already.
 */
import { AsyncResource } from 'node:async_hooks';

/** One call's own outcome in a batch: a failure of one call does not fail the others. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

export type BatchRunner<I, R> = (key: string, items: I[]) => Promise<Settled<R>[]>;

interface Waiter<I, R> {
  item: I;
  scope: AsyncResource;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<I, R> {
  private readonly queues = new Map<string, Waiter<I, R>[]>();

  constructor(
    private readonly runBatch: BatchRunner<I, R>,
    /** The most calls one batch takes; the rest wait for the next turn. */
    private readonly maxBatch = 64,
  ) {}

  submit(key: string, item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const waiter = { item, scope: new AsyncResource('GroupCommit'), resolve, reject };
      const queue = this.queues.get(key);
      if (queue) {
        queue.push(waiter);
        return;
      }
      const fresh: Waiter<I, R>[] = [waiter];
      this.queues.set(key, fresh);
      void this.drain(key, fresh);
    });
  }

  /** Runs batches of the key's queue until it is empty; the queue's presence in the map means "a batch is in flight". */
  private async drain(key: string, queue: Waiter<I, R>[]): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, this.maxBatch);
      let results: Settled<R>[] | undefined;
      let failure: unknown;
      try {
        results = await batch[0].scope.runInAsyncScope(() =>
          this.runBatch(
            key,
            batch.map((w) => w.item),
          ),
        );
        if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} calls returned ${results.length} results`);
      } catch (err) {
        failure = err;
      }
      batch.forEach((w, i) => {
        const r = results?.[i];
        if (r === undefined) w.reject(failure);
        else if (r.ok) w.resolve(r.value);
        else w.reject(r.error);
      });
    }
    this.queues.delete(key);
  }
}

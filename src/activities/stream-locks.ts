/**
 * Commands on one stream that reach this worker take turns: a hot aggregate with many concurrent
 * writers then costs one append per command instead of a storm of conditional PUTs that lose.
 * Writers on other workers still meet at the conditional write, which stays the only arbiter.
 */
export class StreamLocks {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

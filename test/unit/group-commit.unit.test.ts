/**
 * Group commit per key (src/lib/group-commit.ts): the calls that wait for a key while one of its
 * batches is in flight go together as the next batch, in arrival order, each with its own outcome.
 */
import { GroupCommit, type Settled } from '../../src/lib/group-commit';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}
const tick = () => new Promise((r) => setImmediate(r));

test('calls that arrive while a batch is in flight form the next batch, in arrival order', async () => {
  const batches: string[][] = [];
  const first = gate();
  const group = new GroupCommit<string, string>(async (_key, items) => {
    batches.push(items);
    if (batches.length === 1) await first.opened;
    return items.map((i) => ({ ok: true, value: `done ${i}` }));
  });
  const calls = ['a', 'b', 'c', 'd'].map((i) => group.submit('s', i));
  await tick();
  expect(batches).toEqual([['a']]); // a lone call runs at once
  first.open();
  expect(await Promise.all(calls)).toEqual(['done a', 'done b', 'done c', 'done d']);
  expect(batches).toEqual([['a'], ['b', 'c', 'd']]);
});

test('one call refused in a batch does not fail the others', async () => {
  const group = new GroupCommit<number, number>(async (_key, items) => items.map((n): Settled<number> => (n % 2 === 0 ? { ok: true, value: n * 10 } : { ok: false, error: new Error(`odd ${n}`) })));
  const outcomes = await Promise.allSettled([1, 2, 3, 4].map((n) => group.submit('s', n)));
  expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual(['odd 1', 20, 'odd 3', 40]);
});

test('a batch that throws fails its own calls only; the queue goes on with the next batch', async () => {
  const first = gate();
  let n = 0;
  const group = new GroupCommit<string, string>(async (_key, items) => {
    if (n++ === 0) {
      await first.opened;
      throw new Error('store down');
    }
    return items.map((i) => ({ ok: true, value: i }));
  });
  const a = group.submit('s', 'a');
  await tick();
  const later = [group.submit('s', 'b'), group.submit('s', 'c')];
  first.open();
  await expect(a).rejects.toThrow('store down');
  expect(await Promise.all(later)).toEqual(['b', 'c']);
});

test('keys do not wait for each other, and a key never runs two batches at once', async () => {
  const hot = gate();
  let inside = 0;
  let most = 0;
  const started: string[] = [];
  const group = new GroupCommit<string, string>(async (key, items) => {
    started.push(`${key}:${items.join('')}`);
    most = Math.max(most, ++inside);
    if (key === 'hot') await hot.opened;
    inside--;
    return items.map((i) => ({ ok: true, value: i }));
  });
  const hotCalls = ['1', '2', '3'].map((i) => group.submit('hot', i));
  await tick();
  expect(await group.submit('cold', 'x')).toBe('x'); // while hot's first batch is still in flight
  hot.open();
  await Promise.all(hotCalls);
  expect(started).toEqual(['hot:1', 'cold:x', 'hot:23']);
  expect(most).toBe(2); // one per key
});

test('a batch takes at most maxBatch calls', async () => {
  const sizes: number[] = [];
  const first = gate();
  const group = new GroupCommit<number, number>(async (_key, items) => {
    sizes.push(items.length);
    if (sizes.length === 1) await first.opened;
    return items.map((value) => ({ ok: true, value }));
  }, 3);
  const calls = Array.from({ length: 8 }, (_, i) => group.submit('s', i));
  await tick();
  first.open();
  expect(await Promise.all(calls)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  expect(sizes).toEqual([1, 3, 3, 1]);
});

test("a batch runs in its first call's async context", async () => {
  const { AsyncLocalStorage } = await import('node:async_hooks');
  const als = new AsyncLocalStorage<string>();
  const first = gate();
  const seen: Array<string | undefined> = [];
  const group = new GroupCommit<string, string>(async (_key, items) => {
    seen.push(als.getStore());
    if (seen.length === 1) await first.opened;
    return items.map((value) => ({ ok: true, value }));
  });
  const a = als.run('call a', () => group.submit('s', 'a'));
  await tick();
  const b = als.run('call b', () => group.submit('s', 'b'));
  const c = als.run('call c', () => group.submit('s', 'c'));
  first.open();
  await Promise.all([a, b, c]);
  expect(seen).toEqual(['call a', 'call b']);
});

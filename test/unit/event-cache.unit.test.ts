import { EventCache } from '../../src/activities/event-cache';
import type { EventEnvelope } from '../../src/contracts/event-envelope';

const event = (id: string, version: number) => ({ event_id: id, aggregate_type: 'instance', aggregate_id: 'db:hot', aggregate_version: version }) as EventEnvelope;

describe('EventCache: the events a group commit stored before one of its own', () => {
  it('gives each event of a group the cached ones before it, in stream order', () => {
    const cache = new EventCache(10);
    const group = [event('a', 4), event('b', 5), event('c', 6)];
    group.forEach((e) => cache.put(e));
    cache.putGroup(group.map((e) => e.event_id));
    expect(cache.before('a')).toEqual([]);
    expect(cache.before('c')).toEqual([group[0], group[1]]);
  });

  it('gives nothing for an event committed alone, and leaves out what it no longer holds', () => {
    const cache = new EventCache(2);
    cache.put(event('alone', 1));
    cache.putGroup(['alone']);
    expect(cache.before('alone')).toEqual([]);
    ['x', 'y', 'z'].forEach((id, i) => cache.put(event(id, i + 2)));
    cache.putGroup(['x', 'y', 'z']);
    // capacity 2: x is gone, so z's projection brings y only (the projector reads x back if it is still missing)
    expect(cache.before('z')).toEqual([event('y', 3)]);
    expect(cache.before('x')).toEqual([]);
  });
});

/** What a reconciliation or rebuild run sets aside: each event once, and a single stream's projector error like any other. */
import { Registry } from 'prom-client';
import { envelopeOf } from '../../src/contracts/event-envelope';
import { ReadModelError } from '../../src/ports/read-model-errors';
import { StreamsNotProjectedError } from '../../src/ports/projector';
import { projectionSetAside, SetAsideTally, setAsideCounter } from '../../src/activities/failure-metrics';

const event = (id: string, version: number) =>
  envelopeOf<unknown>(
    { event_type: 'INSTANCE_UPDATED', aggregate_type: 'instance', aggregate_id: 'db:a', payload: {} },
    { commandId: `c-${id}`, position: 0, version, occurredAt: new Date().toISOString(), actor: 'test', storageMode: 's3_only' },
  );

test('an event counts once, at the first stage that set it aside; the counter agrees', async () => {
  const registry = new Registry();
  const tally = new SetAsideTally(setAsideCounter(registry));
  expect(tally.add('record', 'EVENT_NOT_RECORDABLE', ['e1'])).toBe(1);
  expect(tally.add('project', 'EVENT_NOT_PROJECTABLE', ['e1'])).toBe(0);
  expect(tally.add('relay', 'PREDECESSOR_NOT_DELIVERED', ['e1', 'e2'])).toBe(1);
  expect(tally.total).toBe(2);
  expect(tally.toJSON()).toEqual({ 'record:EVENT_NOT_RECORDABLE': 1, 'relay:PREDECESSOR_NOT_DELIVERED': 1 });
  const values = (await registry.getSingleMetric('spice_events_set_aside_total')!.get()).values;
  expect(values.reduce((n, v) => n + v.value, 0)).toBe(2);
});

test("a projection's failures: per stream, a single stream's own ReadModelError, nothing for a service failure", () => {
  const [v1, v2] = [event('1', 1), event('2', 2)];
  const failures = [{ aggregate_type: 'instance', aggregate_id: 'db:a', event_id: v2.event_id, aggregate_version: 2, code: 'INVALID_EVENT', reason: 'INVALID_EVENT', error: undefined }];
  expect(projectionSetAside(new StreamsNotProjectedError(failures, { applied: 1, skipped: 0, filled: 0, dropped: 0 }), [v1, v2])).toEqual([
    { code: 'INVALID_EVENT', event_id: v2.event_id, aggregate_type: 'instance', aggregate_id: 'db:a', aggregate_version: 2 },
  ]);
  expect(projectionSetAside(new ReadModelError('INVALID_EVENT', 'bad', { event_id: v2.event_id }), [v1, v2])).toMatchObject([{ event_id: v2.event_id, code: 'INVALID_EVENT' }]);
  // A gap names no event: the stream's first one in the call stands for it.
  expect(projectionSetAside(new ReadModelError('PROJECTION_GAP', 'v2 before v1'), [v2, v1])).toMatchObject([{ event_id: v1.event_id, code: 'PROJECTION_GAP' }]);
  expect(projectionSetAside(new Error('connection terminated'), [v1])).toBeUndefined();
  expect(projectionSetAside(new ReadModelError('REBUILD_TARGET_NOT_EMPTY', 'used'), [v1])).toBeUndefined();
});

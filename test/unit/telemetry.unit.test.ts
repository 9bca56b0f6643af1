import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { LogEntry } from '@temporalio/worker';
import { Registry, register } from 'prom-client';
import { sdkLogSink } from '../../src/app/process-telemetry';
import { loadConfig } from '../../src/app/config';
import { serveProcessMetrics } from '../../src/app/metrics-server';
import { spiceMetrics, setStorageMode, STEPS } from '../../src/contracts/metrics';
import { instrument, appendOutcome } from '../../src/app/instrument';
import { RetryTracker, commandIds } from '../../src/app/worker-telemetry';
import { VersionConflictError } from '../../src/ports/event-store';
import { sampleSum } from '../support/metrics';

beforeEach(() => register.resetMetrics());

test('every step and outcome is served from the start, at 0', async () => {
  const reg = new Registry();
  spiceMetrics(reg);
  const text = await reg.metrics();
  for (const step of STEPS) expect(text).toContain(`spice_step_duration_seconds_count{step="${step}",outcome="error"} 0`);
  expect(text).toContain('spice_reconcile_repairs_total{kind="recorded"} 0');
  expect(spiceMetrics(reg)).toBe(spiceMetrics(reg));
});

test('instrument times the named methods by outcome; the adapter calls itself unmeasured', async () => {
  class Store {
    calls = 0;
    async append(n: number): Promise<number> {
      this.calls++;
      if (n < 0) throw new VersionConflictError({ aggregate_type: 'instance', aggregate_id: 'db:x' }, 1, 2);
      if (n === 0) throw new Error('down');
      return (await this.readStream()) + n;
    }
    async readStream(): Promise<number> {
      return 10;
    }
    name(): string {
      return 'plain';
    }
  }
  const store = instrument(new Store(), { append: { step: 's3_append', outcomeOf: appendOutcome }, readStream: 's3_read' });
  expect(await store.append(1)).toBe(11);
  await expect(store.append(-1)).rejects.toBeInstanceOf(VersionConflictError);
  await expect(store.append(0)).rejects.toThrow('down');
  expect(store.name()).toBe('plain');
  expect(store.calls).toBe(3);
  const text = await register.metrics();
  expect(sampleSum(text, 'spice_step_duration_seconds_count', { step: 's3_append', outcome: 'success' })).toBe(1);
  expect(sampleSum(text, 'spice_step_duration_seconds_count', { step: 's3_append', outcome: 'conflict' })).toBe(1);
  expect(sampleSum(text, 'spice_step_duration_seconds_count', { step: 's3_append', outcome: 'error' })).toBe(1);
  // append's own readStream went to the store itself, not through the measured proxy.
  expect(sampleSum(text, 'spice_step_duration_seconds_count', { step: 's3_read' })).toBe(0);
});

test('the storage mode gauge marks the mode in force only', async () => {
  setStorageMode('dual_write');
  const text = await register.metrics();
  expect(sampleSum(text, 'spice_storage_mode', { mode: 'dual_write' })).toBe(1);
  expect(sampleSum(text, 'spice_storage_mode', { mode: 'legacy' })).toBe(0);
  expect(sampleSum(text, 'spice_storage_mode', { mode: 's3_only' })).toBe(0);
});

test('the retry tracker counts failing activities, their oldest first schedule, and forgets stale ones', () => {
  let now = 1_000_000;
  const t = new RetryTracker(() => now);
  t.failed('a', now - 30_000);
  t.failed('b', now - 5_000);
  expect(t.snapshot()).toEqual({ count: 2, oldestAgeSeconds: 30 });
  t.settled('a');
  expect(t.snapshot()).toEqual({ count: 1, oldestAgeSeconds: 5 });
  now += RetryTracker.STALE_MS + 1;
  expect(t.snapshot()).toEqual({ count: 0, oldestAgeSeconds: 0 });
});

test('a log line names the command, its aggregate and its events, from the input or the result', () => {
  const input = { command_id: 'c1', command_type: 'CREATE_INSTANCE', actor: 'x' };
  const result = { aggregate_type: 'instance', aggregate_id: 'db:ada', version: 1, events: [{ event_id: 'e1', aggregate_type: 'instance', aggregate_id: 'db:ada' }] };
  expect(commandIds([input], result)).toEqual({ command_id: 'c1', command_type: 'CREATE_INSTANCE', event_ids: ['e1'], aggregate: 'instance/db:ada' });
  expect(commandIds([['e1', 'e2']])).toEqual({ event_ids: ['e1', 'e2'] });
  expect(commandIds([{ input, batch: 0 }])).toEqual({ command_id: 'c1', command_type: 'CREATE_INSTANCE' });
});

test("an activity whose result counts its events (the rebuild's) is logged without ids, not failed by its log line", () => {
  expect(commandIds([{ target_schema: 'x' }], { events: 302, equal: true })).toEqual({});
  expect(commandIds([{ target_schema: 'x' }], { events: { applied: 3 } })).toEqual({});
  expect(commandIds([], null)).toEqual({});
});

test("a worker's /metrics listens on loopback unless WORKER_METRICS_BIND_HOST says otherwise", async () => {
  const config = loadConfig({ WORKER_METRICS_PORT: '9464' });
  expect(config.WORKER_METRICS_BIND_HOST).toBe('127.0.0.1');
  expect(loadConfig({ WORKER_METRICS_BIND_HOST: '0.0.0.0' }).WORKER_METRICS_BIND_HOST).toBe('0.0.0.0');
  const server = await serveProcessMetrics(config.WORKER_METRICS_BIND_HOST, 0, 'WORKER_METRICS_PORT');
  try {
    expect((server.address() as AddressInfo).address).toBe('127.0.0.1');
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test("the SDK's log lines become JSON lines of the process's logger; its per-activity failure dump is left to our own line", () => {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const sink = sdkLogSink(log, false);
  const entry = (level: LogEntry['level'], message: string, meta?: Record<string, unknown>): LogEntry => ({ level, message, meta, timestampNanos: 0n });
  sink(entry('WARN', 'Activity failed', { activityType: 'runCommand', error: new Error('instance exists') }));
  sink(entry('ERROR', 'Worker failed', { taskQueue: 'q', error: new Error('boom') }));
  sink(entry('WARN', 'Workflow bundle is large'));
  expect(lines.map((l) => [l.level, l.msg])).toEqual([
    [50, 'Worker failed'],
    [40, 'Workflow bundle is large'],
  ]);
  expect(lines[0]).toMatchObject({ sdk: true, taskQueue: 'q', err: { message: 'boom' } });
  // Debugging shows everything.
  sdkLogSink(log, true)(entry('WARN', 'Activity failed', { activityType: 'runCommand' }));
  expect(lines.at(-1)).toMatchObject({ msg: 'Activity failed', activityType: 'runCommand' });
});

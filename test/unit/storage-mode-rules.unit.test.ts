/** The live storage mode's rules: switch preconditions, the "may lead" flags, and the stream comparison of verify. */
import { flagsAfterRun, flagsAfterSwitch, MigrationRun, StorageModeState, switchPreconditions } from '../../src/contracts/storage-mode';
import { compareStream, contentHash } from '../../src/activities/migration';
import type { EventEnvelope } from '../../src/contracts/event-envelope';

const T0 = '2026-01-01T00:00:00.000Z';
const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString();
const run = (started: number, completed: number, extra: Partial<MigrationRun> = {}): MigrationRun => ({
  workflow_id: 'w',
  started_at: at(started),
  completed_at: at(completed),
  count: 1,
  clean_start: true,
  ...extra,
});
const state = (over: Partial<StorageModeState> = {}): StorageModeState => ({
  mode: 'dual_write',
  previous_mode: 'legacy',
  epoch: 2,
  changed_at: at(0),
  effective_at: at(2),
  changed_by: 'x',
  reason: 'y',
  legacy_may_lead: true,
  s3_may_lead: false,
  last_backfill: null,
  last_verify: null,
  last_reverse_sync: null,
  ...over,
});

describe('switch preconditions', () => {
  test('to s3_only: a clean backfill, then a verify of S3 with 0 differences started after it', () => {
    expect(switchPreconditions(state(), 's3_only')).toHaveLength(2);
    const backfilled = state({ legacy_may_lead: false, last_backfill: run(10, 20) });
    expect(switchPreconditions(backfilled, 's3_only')).toEqual(['no verify of S3 against the legacy table with 0 differences']);
    expect(switchPreconditions({ ...backfilled, last_verify: run(21, 30, { differences: 0, target: 's3' }) }, 's3_only')).toEqual([]);
    expect(switchPreconditions({ ...backfilled, last_verify: run(21, 30, { differences: 3, target: 's3' }) }, 's3_only')).toHaveLength(1);
    expect(switchPreconditions({ ...backfilled, last_verify: run(15, 30, { differences: 0, target: 's3' }) }, 's3_only')).toEqual(['the last verify is older than the last backfill: verify again']);
    expect(switchPreconditions({ ...backfilled, last_verify: run(21, 30, { differences: 0, target: 'legacy' }) }, 's3_only')).toHaveLength(1);
  });

  test('to legacy: a reverse sync since the current mode took over, when S3 may lead', () => {
    const s3 = state({ mode: 's3_only', s3_may_lead: true, legacy_may_lead: false });
    expect(switchPreconditions(s3, 'legacy')).toHaveLength(1);
    expect(switchPreconditions({ ...s3, last_reverse_sync: run(-10, -5) }, 'legacy')).toHaveLength(1);
    expect(switchPreconditions({ ...s3, last_reverse_sync: run(5, 9) }, 'legacy')).toEqual([]);
    // dual_write that never followed s3_only keeps the table complete.
    expect(switchPreconditions(state(), 'legacy')).toEqual([]);
  });

  test('to the mode in force: refused; to dual_write: always allowed', () => {
    expect(switchPreconditions(state(), 'dual_write')).toEqual(['the mode is dual_write already']);
    expect(switchPreconditions(state({ mode: 'legacy' }), 'dual_write')).toEqual([]);
    expect(switchPreconditions(state({ mode: 's3_only', s3_may_lead: true }), 'dual_write')).toEqual([]);
  });
});

describe('may-lead flags', () => {
  test('entering a mode that writes one store makes that store lead', () => {
    expect(flagsAfterSwitch({ legacy_may_lead: false, s3_may_lead: false }, 'legacy')).toEqual({ legacy_may_lead: true, s3_may_lead: false });
    expect(flagsAfterSwitch({ legacy_may_lead: false, s3_may_lead: false }, 's3_only')).toEqual({ legacy_may_lead: false, s3_may_lead: true });
    expect(flagsAfterSwitch({ legacy_may_lead: true, s3_may_lead: false }, 'dual_write')).toEqual({ legacy_may_lead: true, s3_may_lead: false });
  });

  test('a clean backfill after the switch took effect clears legacy_may_lead; an unclean or early one does not', () => {
    expect(flagsAfterRun(state(), 'backfill', run(3, 9)).legacy_may_lead).toBe(false);
    expect(flagsAfterRun(state(), 'backfill', run(1, 9)).legacy_may_lead).toBe(true);
    expect(flagsAfterRun(state(), 'backfill', run(3, 9, { clean_start: false })).legacy_may_lead).toBe(true);
    expect(flagsAfterRun(state({ mode: 'legacy' }), 'backfill', run(3, 9)).legacy_may_lead).toBe(true);
    expect(flagsAfterRun(state({ mode: 'legacy', s3_may_lead: true }), 'reverse_sync', run(3, 9)).s3_may_lead).toBe(false);
  });
});

describe('verify: one stream compared', () => {
  const e = (v: number, id = `e${v}`, payload: unknown = { v }): { envelope: EventEnvelope } => ({
    envelope: {
      event_id: id,
      event_type: 'T',
      aggregate_type: 'instance',
      aggregate_id: 'db:i',
      aggregate_version: v,
      occurred_at: at(v),
      actor: 'a',
      command_id: 'c',
      schema_version: 1,
      payload,
      metadata: { storage_mode: 'legacy' },
    },
  });
  const stream = { aggregate_type: 'instance', aggregate_id: 'db:i' };

  test('equal copies: no difference, whatever the key order of payloads', () => {
    expect(contentHash(e(1, 'x', { a: 1, b: 2 }).envelope)).toBe(contentHash(e(1, 'x', { b: 2, a: 1 }).envelope));
    expect(compareStream(stream, [e(1), e(2)], [e(1), e(2)], 'both')).toEqual({ differences: [], s3_ahead: 0, legacy_ahead: 0, events: 2 });
  });

  test('a legacy tail S3 lacks is a difference for target s3; an S3 tail is not', () => {
    const r = compareStream(stream, [e(1), e(2), e(3)], [e(1)], 's3');
    expect(r.differences).toEqual([{ ...stream, kind: 'missing_in_s3', from_version: 2, versions: 2, legacy_event_id: 'e2' }]);
    expect(compareStream(stream, [e(1)], [e(1), e(2)], 's3')).toMatchObject({ differences: [], s3_ahead: 1 });
    expect(compareStream(stream, [e(1)], [e(1), e(2)], 'legacy').differences).toMatchObject([{ kind: 'missing_in_legacy', from_version: 2 }]);
  });

  test('another event or other content at a version', () => {
    expect(compareStream(stream, [e(1)], [e(1, 'other')], 'both').differences).toMatchObject([{ kind: 'event_id_differs', legacy_event_id: 'e1', s3_event_id: 'other' }]);
    expect(compareStream(stream, [e(1)], [e(1, 'e1', { v: 9 })], 'both').differences).toMatchObject([{ kind: 'content_differs' }]);
  });
});

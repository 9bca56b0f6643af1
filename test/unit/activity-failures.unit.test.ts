/**
 * Every typed error an activity can meet leaves it as an ApplicationFailure whose type is its code,
 * final or retried by the code alone (FAILURE_CODES), whichever adapter threw it: Temporal reads
 * only the failure's type and flag. The README's two lists are checked against the same table.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_CODES, toActivityFailure } from '../../src/activities/failures';
import { CommandReusedError, EventIdReusedError, EventNotFoundError, InvalidEventError, StoreCorruptedError, VersionConflictError } from '../../src/ports/event-store';
import { EventNotRecordedError, KafkaPublishError, PredecessorNotDelivered } from '../../src/ports/relay';
import { InvalidKafkaMessageError } from '../../src/contracts/kafka-message';
import { EventUnavailableError } from '../../src/adapters/kafka/event-reader';
import { EventNotRecordableError, LedgerStreamConflictError } from '../../src/ports/ledger';
import { ReadModelError } from '../../src/ports/read-model-errors';
import { StreamsNotProjectedError } from '../../src/ports/projector';
import { KeyEncodingError } from '../../src/adapters/s3/s3-keys';
import { SAFE_MESSAGES } from '../../src/api/failure-view';
import { NON_RETRYABLE_TYPES } from '../../src/contracts/refusals';

const stream = { aggregate_type: 'instance', aggregate_id: 'db:x' };

test.each([
  ['LEDGER_STREAM_CONFLICT', true, new LedgerStreamConflictError(['e1'], new Error('duplicate key value violates unique constraint "x"'))],
  ['EVENT_NOT_RECORDED', true, new EventNotRecordedError(['e1'])],
  ['KAFKA_MESSAGE_INVALID', true, new InvalidKafkaMessageError('not JSON')],
  ['EVENT_ID_REUSED', true, new EventIdReusedError('e1', stream, 3)],
  ['INVALID_EVENT', true, new InvalidEventError('bad')],
  // The same code from the projector or the key encoding ends the same way as from the store.
  ['INVALID_EVENT', true, new ReadModelError('INVALID_EVENT', 'not a stored event envelope')],
  ['INVALID_EVENT', true, new KeyEncodingError('a key segment must be a non-empty string')],
  ['STORE_CORRUPTED', true, new StoreCorruptedError('stream instance/"db:x" has a gap before version 3')],
  ['IDEMPOTENCY_KEY_REUSED', true, new CommandReusedError('c1')],
  ['REBUILD_TARGET_NOT_EMPTY', true, new ReadModelError('REBUILD_TARGET_NOT_EMPTY', 'schema already holds projected streams')],
  ['EVENT_NOT_RECORDABLE', false, new EventNotRecordableError(['e1'], new Error('unsupported Unicode escape sequence'))],
  ['EVENT_NOT_PROJECTABLE', false, new StreamsNotProjectedError([], { applied: 0, skipped: 0, filled: 0, dropped: 0 })],
  ['PREDECESSOR_NOT_DELIVERED', false, new PredecessorNotDelivered(['e2'], 0)],
  ['KAFKA_PUBLISH_FAILED', false, new KafkaPublishError('down', ['e1'], new Error('ECONNREFUSED'))],
  ['EVENT_UNAVAILABLE', false, new EventUnavailableError('e1', new Error('down'))],
  ['EVENT_NOT_FOUND', false, new EventNotFoundError('no event at some/key')],
  ['PROJECTION_GAP', false, new ReadModelError('PROJECTION_GAP', 'v2 before v1')],
  ['READ_MODELS_BEHIND', false, new ReadModelError('READ_MODELS_BEHIND', 'life 2 not projected yet')],
])('%s: type is the code, nonRetryable=%s', (code, final, err) => {
  const f = toActivityFailure(err);
  expect(f).toBeInstanceOf(ApplicationFailure);
  expect(f).toMatchObject({ type: code, nonRetryable: final });
  expect(FAILURE_CODES[code]).toBe(final ? 'final' : 'retry');
  // A retryable failure never takes a type the workflow's retry policy treats as final.
  if (!final) expect(NON_RETRYABLE_TYPES).not.toContain(code);
  // The failure carries our message, not the text of the cause (SQL, hosts).
  expect((f as ApplicationFailure).message).not.toMatch(/duplicate key|unsupported Unicode|ECONNREFUSED/);
  if (final) expect((f as ApplicationFailure).details?.[0]).toMatchObject({ code });
});

test('a version conflict stays retryable (re-read and re-decided), untyped errors pass unchanged', () => {
  expect(FAILURE_CODES.VERSION_CONFLICT).toBe('retry');
  const conflict = new VersionConflictError(stream, 1, 2);
  expect(toActivityFailure(conflict)).toBe(conflict);
  const plain = new Error('socket hang up');
  expect(toActivityFailure(plain)).toBe(plain);
  // An error with a code of its own that is none of ours (a SQLSTATE, a Node errno) is untyped too.
  const pg = Object.assign(new Error('duplicate key'), { code: '23505' });
  expect(toActivityFailure(pg)).toBe(pg);
});

test("the README's lists of final and retried codes are the table's", () => {
  const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
  const listed = (label: string): string[] => {
    const line = readme.split('\n').find((l) => l.startsWith(`  - **${label}**`));
    expect(line).toBeDefined();
    return [...line!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]).sort();
  };
  const of = (outcome: string) =>
    Object.keys(FAILURE_CODES)
      .filter((c) => FAILURE_CODES[c] === outcome)
      .sort();
  expect(listed('Final')).toEqual(of('final'));
  expect(listed('Retried')).toEqual(of('retry'));
});

test('every code of the table has a message of its own in the status view', () => {
  // Refusals (VERSION_CONFLICT, IDEMPOTENCY_KEY_REUSED) carry their own message; COMMAND_APPENDED never leaves decideAndAppend.
  for (const code of Object.keys(FAILURE_CODES).filter((c) => !NON_RETRYABLE_TYPES.includes(c) && c !== 'COMMAND_APPENDED')) expect([code, SAFE_MESSAGES[code]]).toEqual([code, expect.any(String)]);
});

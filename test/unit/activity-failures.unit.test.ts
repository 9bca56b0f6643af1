/**
 * Every typed error an activity can meet leaves it as an ApplicationFailure whose type is its code
 * and whose nonRetryable flag follows its `retryable` field: Temporal reads only the former.
 */
import { ApplicationFailure } from '@temporalio/common';
import { toActivityFailure } from '../../src/activities/failures';
import { EventIdReusedError, InvalidEventError, VersionConflictError } from '../../src/adapters/event-store';
import { EventNotRecordedError, KafkaPublishError, PredecessorNotDelivered } from '../../src/adapters/kafka-relay';
import { InvalidKafkaMessageError } from '../../src/adapters/kafka-message';
import { EventUnavailableError } from '../../src/adapters/event-reader';
import { EventNotRecordableError, LedgerStreamConflictError } from '../../src/adapters/ledger';
import { ReadModelError } from '../../src/adapters/read-model-errors';
import { StreamsNotProjectedError } from '../../src/adapters/read-model-projector';
import { NON_RETRYABLE_TYPES } from '../../src/workflows/definitions';

const stream = { aggregate_type: 'instance', aggregate_id: 'db:x' };

test.each([
  ['LEDGER_STREAM_CONFLICT', true, new LedgerStreamConflictError(['e1'], new Error('duplicate key value violates unique constraint "x"'))],
  ['EVENT_NOT_RECORDED', true, new EventNotRecordedError(['e1'])],
  ['KAFKA_MESSAGE_INVALID', true, new InvalidKafkaMessageError('not JSON')],
  ['EVENT_ID_REUSED', true, new EventIdReusedError('e1', stream, 3)],
  ['INVALID_EVENT', true, new InvalidEventError('bad')],
  ['EVENT_NOT_RECORDABLE', false, new EventNotRecordableError(['e1'], new Error('unsupported Unicode escape sequence'))],
  ['EVENT_NOT_PROJECTABLE', false, new StreamsNotProjectedError([], { applied: 0, skipped: 0, filled: 0, dropped: 0 })],
  ['PREDECESSOR_NOT_DELIVERED', false, new PredecessorNotDelivered(['e2'], 0)],
  ['KAFKA_PUBLISH_FAILED', false, new KafkaPublishError('down', ['e1'], new Error('ECONNREFUSED'))],
  ['EVENT_UNAVAILABLE', false, new EventUnavailableError('e1', new Error('down'))],
  ['PROJECTION_GAP', false, new ReadModelError('PROJECTION_GAP', 'v2 before v1')],
])('%s: type is the code, nonRetryable=%s', (code, final, err) => {
  const f = toActivityFailure(err);
  expect(f).toBeInstanceOf(ApplicationFailure);
  expect(f).toMatchObject({ type: code, nonRetryable: final });
  // A retryable failure never takes a type the workflow's retry policy treats as final.
  if (!final) expect(NON_RETRYABLE_TYPES).not.toContain(code);
  // The failure carries our message, not the text of the cause (SQL, hosts).
  expect((f as ApplicationFailure).message).not.toMatch(/duplicate key|unsupported Unicode|ECONNREFUSED/);
  if (final) expect((f as ApplicationFailure).details?.[0]).toMatchObject({ code });
});

test('a version conflict stays retryable (re-read and re-decided), untyped errors pass unchanged', () => {
  const conflict = new VersionConflictError(stream, 1, 2);
  expect(toActivityFailure(conflict)).toBe(conflict);
  const plain = new Error('socket hang up');
  expect(toActivityFailure(plain)).toBe(plain);
});

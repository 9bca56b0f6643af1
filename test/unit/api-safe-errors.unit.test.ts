/**
 * Answers carry codes and our own words; what a dependency or the JSON parser said (hosts, ports,
 * SQL, schema names, pieces of the body) is logged under the request id and nowhere else.
 */
import { ApplicationFailure, TerminatedFailure } from '@temporalio/common';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { safeFailureOf, safeRetryOf } from '../../src/api/failure-view';
import { inMemoryPorts } from '../support/in-memory-ports';
import { FAILURE_DETAIL } from '../../src/ports/command-gateway';
import { type HealthCheck } from '../../src/ports/health';

/** A logger whose lines the test can read. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return {
    logger,
    lines,
    of: (reqId: string) =>
      lines
        .filter((l) => l.req_id === reqId)
        .map((l) => JSON.stringify(l))
        .join('\n'),
  };
}

const INTERNALS = /10\.20\.30\.40|55432|ECONNREFUSED|secret_schema|delivery_ledger|SELECT|INSERT|hunter2|relation "/;

describe('MALFORMED_JSON', () => {
  test.each([
    ['a token error, which JSON.parse words with the body', '{"user": "ada", "password": hunter2}'],
    ['a bare word', 'hunter2-is-my-password'],
    ['a truncated object', '{"password": "hunter2"'],
  ])('%s: the answer names no piece of the body; the log line has the parser message', async (_name, body) => {
    const log = capturedLogger();
    const app = createApp(inMemoryPorts(), log.logger);
    const res = await request(app).post('/api/v1/databases').set('content-type', 'application/json').send(body);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('MALFORMED_JSON');
    expect(res.text).not.toMatch(/hunter2/);
    expect(res.body.detail).toMatch(/^the body is not valid JSON( \(at position \d+\))?$/);
    expect(log.of(res.headers['x-request-id'])).toMatch(/not valid JSON|after property value|Unexpected/);
  });
});

describe('/health/ready', () => {
  const checks: HealthCheck[] = [
    { name: 'postgres', check: async () => Promise.reject(new Error('connect ECONNREFUSED 10.20.30.40:55432')) },
    { name: 'kafka', check: async () => Promise.reject(new Error('relation "secret_schema.delivery_ledger" does not exist: SELECT 1 FROM secret_schema.delivery_ledger')) },
    { name: 's3', check: () => new Promise<void>(() => undefined) },
    { name: 'temporal', check: async () => undefined },
  ];

  test('a failing dependency is named with a safe reason; its own error is logged under the request id', async () => {
    const log = capturedLogger();
    const app = createApp(inMemoryPorts({ health: checks }), log.logger, { healthTimeoutMs: 50 });
    const res = await request(app).get('/health/ready');
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'NOT_READY', checks: { temporal: { status: 'ok' }, postgres: { status: 'failed' }, kafka: { status: 'failed' }, s3: { status: 'failed' } } });
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['kafka', 'postgres', 's3']);
    expect(res.body.checks.s3.error).toBe('timed out after 50 ms');
    expect(res.text).not.toMatch(INTERNALS);

    const logged = log.of(res.headers['x-request-id']);
    expect(logged).toContain('connect ECONNREFUSED 10.20.30.40:55432');
    expect(logged).toContain('relation \\"secret_schema.delivery_ledger\\" does not exist');
  });
});

describe('GET /commands/{id}', () => {
  test('the view goes out without the failure detail, which the log line of the request carries', async () => {
    const log = capturedLogger();
    const ports = inMemoryPorts();
    const app = createApp(ports, log.logger);
    await request(app).post('/api/v1/databases').send({ name: 'crm' });
    const view = ports.commands.complete('cmd-1', {
      status: 'RETRYING',
      retry: safeRetryOf('deliver', 7, 'DatabaseError'),
    });
    view[FAILURE_DETAIL] = { last_failure: 'connect ECONNREFUSED 10.20.30.40:55432' };

    const res = await request(app).get('/api/v1/commands/cmd-1');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'RETRYING', retry: { activity: 'deliver', attempt: 7, code: 'DEPENDENCY_FAILED' } });
    expect(res.text).not.toMatch(INTERNALS);
    expect(log.of(res.headers['x-request-id'])).toContain('connect ECONNREFUSED 10.20.30.40:55432');
  });

  test('a failed command waited on answers 500 without the detail, and logs it', async () => {
    const log = capturedLogger();
    const ports = inMemoryPorts({ maxWaitMs: 1000 });
    ports.commands.onWait = (id) => {
      const view = ports.commands.fail(id, safeFailureOf(ApplicationFailure.create({ type: 'DatabaseError', message: 'INSERT INTO secret_schema.delivery_ledger failed' })));
      view[FAILURE_DETAIL] = { error: 'DatabaseError: INSERT INTO secret_schema.delivery_ledger failed' };
      return view;
    };
    const res = await request(createApp(ports, log.logger)).post('/api/v1/databases?wait=true').send({ name: 'crm' });
    expect(res.status).toBe(500);
    expect(res.body.code).toBe('COMMAND_FAILED');
    expect(res.text).not.toMatch(INTERNALS);
    expect(log.of(res.headers['x-request-id'])).toContain('INSERT INTO secret_schema.delivery_ledger failed');
  });
});

describe('failure views', () => {
  const raw = 'error: duplicate key value violates unique constraint "delivery_ledger_pkey" (INSERT INTO secret_schema.delivery_ledger ...) at 10.20.30.40:55432';

  test('a domain refusal keeps its own message and details', () => {
    const data = { code: 'CLASS_NOT_FOUND', message: "class 'Robot' not found", status: 404, details: [{ path: 'class_id', message: 'unknown class' }] };
    expect(safeFailureOf(ApplicationFailure.create({ type: 'CLASS_NOT_FOUND', message: data.message, details: [data], nonRetryable: true }))).toEqual({
      code: 'CLASS_NOT_FOUND',
      message: "class 'Robot' not found",
      details: data.details,
    });
  });

  test('a version conflict keeps its message, which carries the current version', () => {
    const data = { code: 'VERSION_CONFLICT', message: 'expected version 3, current version is 5', status: 409, details: [{ path: 'expected_version', message: 'current version is 5' }] };
    expect(safeFailureOf(ApplicationFailure.create({ type: 'VERSION_CONFLICT', message: data.message, details: [data], nonRetryable: true })).message).toBe(data.message);
  });

  test.each([
    [
      'a coded failure that is no refusal (code kept, message ours)',
      ApplicationFailure.create({ type: 'LEDGER_STREAM_CONFLICT', message: raw, details: [{ code: 'LEDGER_STREAM_CONFLICT', message: raw, details: [] }] }),
      'LEDGER_STREAM_CONFLICT',
    ],
    [
      'a code nobody listed yet',
      ApplicationFailure.create({ type: 'SOMETHING_NEW', message: raw, details: [{ code: 'SOMETHING_NEW', message: raw, details: [{ path: 'x', message: raw }] }] }),
      'SOMETHING_NEW',
    ],
    ['an untyped error under its class name', ApplicationFailure.create({ type: 'DatabaseError', message: raw }), 'COMMAND_FAILED'],
    ['a refusal code carrying a raw message outside its data', ApplicationFailure.create({ type: 'EVENT_ID_REUSED', message: raw }), 'EVENT_ID_REUSED'],
    ['a termination with an operator reason', new TerminatedFailure(raw), 'TERMINATED'],
    ['anything else', new Error(raw), 'COMMAND_FAILED'],
  ])('%s', (_name, cause, code) => {
    const view = safeFailureOf(cause);
    expect(view.code).toBe(code);
    expect(JSON.stringify(view)).not.toMatch(INTERNALS);
  });

  test('a retry names the activity, attempt and code; an untyped failure is DEPENDENCY_FAILED', () => {
    expect(safeRetryOf('deliver', 4, 'KafkaJSConnectionError')).toMatchObject({ activity: 'deliver', attempt: 4, code: 'DEPENDENCY_FAILED' });
    expect(safeRetryOf('decideAndAppend', 2, 'EVENT_NOT_RECORDABLE')).toMatchObject({ code: 'EVENT_NOT_RECORDABLE', last_failure: expect.stringContaining('ledger refuses') });
    expect(safeRetryOf('project', 2, undefined).code).toBe('DEPENDENCY_FAILED');
  });

  test('a retry names its step of the lifecycle and since when it waits', () => {
    const since = '2026-01-02T03:04:05.000Z';
    expect(safeRetryOf('deliver', 3, undefined, { since })).toMatchObject({ step: 'relay', since, last_failure: expect.stringContaining(`step relay, waiting since ${since}`) });
    expect(safeRetryOf('appendBulkBatch', 2, undefined).step).toBe('append');
    expect(safeRetryOf('prepareBulk', 2, undefined).step).toBe('claim');
    expect(safeRetryOf('project', 2, undefined).step).toBe('project');
    expect(safeRetryOf('rebuildChunk', 2, undefined).step).toBe('other');
  });
});

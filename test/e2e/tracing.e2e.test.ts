/**
 * One command, one trace: the HTTP request is the root; the workflow start, the workflow run and
 * its activities follow as children (Temporal's OpenTelemetry interceptors), the S3, PostgreSQL and
 * Kafka steps inside the activity; the Kafka message carries the trace on (`traceparent`) and
 * GET /commands/{id} names it. Spans go to an in-memory exporter.
 */
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { setupTracing, type Tracing } from '../../src/app/tracing';
import { startPipeline, type Pipeline } from '../support/pipeline';
import { sendJson } from '../support/http';
import { defaultPayloadConverter } from '@temporalio/common';
import { eventually } from '../support/env';

jest.setTimeout(180_000);

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let p: Pipeline;

beforeAll(async () => {
  tracing = setupTracing('spice-oms-test', { processor: new SimpleSpanProcessor(exporter) });
  p = await startPipeline('tracing');
});
afterAll(async () => {
  await p?.close();
  await tracing?.shutdown();
});

function parentOf(span: ReadableSpan, spans: ReadableSpan[]): ReadableSpan | undefined {
  return spans.find((s) => s.spanContext().spanId === span.parentSpanId);
}

/** Names from the span up to its root. */
function chain(span: ReadableSpan, spans: ReadableSpan[]): string[] {
  const names = [span.name];
  for (let s = parentOf(span, spans); s; s = parentOf(s, spans)) names.push(s.name);
  return names.reverse();
}

test('one command yields one trace from the HTTP request down to S3, PostgreSQL and Kafka', async () => {
  const res = await sendJson(p.url, 'POST', '/databases', { name: 'traced' }, { prefer: 'wait=30' });
  expect([201, 202]).toContain(res.status);
  // GET /commands/{id} names the command's trace (the waited answer is built from the result alone).
  // A loaded machine may take longer than the wait: the trace is complete once the command is.
  const status = await eventually(
    () => sendJson(p.url, 'GET', `/commands/${res.body.command_id}`),
    (r) => r.body.status === 'COMPLETED',
    90_000,
    500,
  );
  const traceId = status.body.trace_id as string;
  expect(traceId).toMatch(/^[0-9a-f]{32}$/);

  const spans = await eventually(
    async () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId),
    (ss) => ['s3_append', 'ledger_record', 'kafka_publish', 'projection'].every((n) => ss.some((s) => s.name === n)) && ss.some((s) => s.name.startsWith('RunWorkflow')),
    30_000,
    200,
  );
  const root = spans.filter((s) => parentOf(s, spans) === undefined);
  expect(root.map((s) => s.name)).toEqual(['POST /api/v1/databases']);
  for (const step of ['s3_append', 'ledger_record', 'kafka_publish', 'projection']) {
    const c = chain(
      spans.find((s) => s.name === step)!,
      spans,
    );
    expect(c[0]).toBe('POST /api/v1/databases');
    expect(c).toEqual(expect.arrayContaining(['StartWorkflow:processCommand', 'RunWorkflow:processCommand']));
    expect(c.some((n) => n.startsWith('RunActivity:'))).toBe(true);
    expect(c.at(-1)).toBe(step);
  }

  // The Kafka message continues the trace.
  await p.waitForMessages(1);
  const header = p.messages.find((m) => m.headers['event-type'] === 'DATABASE_CREATED')!.headers.traceparent;
  expect(header).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`));
});

test("the run's page tells the story: a summary, and the fast path's steps with what each did and how long it took", async () => {
  const res = await sendJson(p.url, 'POST', '/databases', { name: 'storied' }, { prefer: 'wait=30' });
  expect([201, 202]).toContain(res.status);
  await eventually(
    () => sendJson(p.url, 'GET', `/commands/${res.body.command_id}`),
    (r) => r.body.status === 'COMPLETED',
    90_000,
    500,
  );
  const handle = p.client.workflow.getHandle(`command-${res.body.command_id}`);
  const description = await handle.describe();
  expect(await description.staticSummary()).toBe('CREATE_DATABASE storied');
  // The mode the command runs in, as captured in its input (once the text of a function instead).
  expect(await description.staticDetails()).toMatch(/^- storage mode: `(legacy|dual_write|s3_only)`$/m);
  // The local activity's result is recorded in its marker; the Web UI shows it on the run's page.
  const history = await handle.fetchHistory();
  const marker = history.events!.find((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')!.markerRecordedEventAttributes!;
  const result = defaultPayloadConverter.fromPayload(marker.details!.result!.payloads![0]) as { steps: { step: string; did?: string; ms: number; steps?: { step: string }[] }[] };
  expect(result.steps.map((s) => [s.step, s.did])).toEqual([
    ['decide_and_append', '1 event(s) on database/storied, now at version 1'],
    ['deliver', 'published 1 event(s) to Kafka'],
    ['project', 'projected 1 event(s) into the read models'],
  ]);
  expect(result.steps[0].steps?.map((s) => s.step)).toEqual(expect.arrayContaining(['s3_append', 'ledger_record']));
  expect(result.steps[1].steps?.map((s) => s.step)).toEqual(['kafka_publish']);
});

/**
 * OpenTelemetry tracing of a process: one trace per command, from the HTTP request through the
 * workflow start, the workflow and each activity (Temporal's OpenTelemetry interceptors) into the
 * S3, PostgreSQL and Kafka calls (instrument.ts); the Kafka messages carry `traceparent`.
 *
 * Spans are exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise nothing is
 * recorded (the OpenTelemetry API stays a no-op). Tests pass their own span processor.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, NoopSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  OpenTelemetryWorkflowClientInterceptor,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { WorkflowClientInterceptor } from '@temporalio/client';

export interface Tracing {
  /** Whether spans are recorded at all. */
  enabled: boolean;
  resource: Resource;
  processor: SpanProcessor;
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT), e.g. http://collector:4318. */
  otlpEndpoint?: string;
  /** Instead of OTLP: where spans go (tests: a SimpleSpanProcessor over an InMemorySpanExporter). */
  processor?: SpanProcessor;
}

let active: Tracing | undefined;

/** Once per process (the OpenTelemetry API holds one global provider); later calls get the first. */
export function setupTracing(serviceName: string, o: TracingOptions = {}): Tracing {
  if (active) return active;
  const resource = new Resource({ 'service.name': serviceName });
  const processor = o.processor ?? (o.otlpEndpoint ? new BatchSpanProcessor(new OTLPTraceExporter({ url: `${o.otlpEndpoint.replace(/\/$/, '')}/v1/traces` })) : undefined);
  if (!processor) {
    active = { enabled: false, resource, processor: new NoopSpanProcessor(), shutdown: async () => undefined };
    return active;
  }
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  // Registers the W3C trace-context propagator and the AsyncLocalStorage context manager too.
  provider.register();
  const tracing: Tracing = {
    enabled: true,
    resource,
    processor,
    async shutdown() {
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
      active = undefined;
    },
  };
  active = tracing;
  return tracing;
}

const OFF: Tracing = { enabled: false, resource: new Resource({ 'service.name': 'spice-oms' }), processor: new NoopSpanProcessor(), shutdown: async () => undefined };

/** The process's tracing, or one that records nothing when setupTracing was never called. */
export function activeTracing(): Tracing {
  return active ?? OFF;
}

/** The interceptors and sink a worker needs for its workflows and activities to join the traces. */
export function workerTracing(tracing: Tracing): { activity: ActivityInterceptorsFactory[]; sinks: InjectedSinks<Record<string, never>> } {
  return {
    activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
    // Workflow code records its spans in the sandbox and hands them to the worker through this sink;
    // injected even when tracing is off, since the bundle always carries the interceptors.
    sinks: { exporter: makeWorkflowExporter(tracing.processor, tracing.resource) } as never,
  };
}

export function clientTracing(): WorkflowClientInterceptor[] {
  return [new OpenTelemetryWorkflowClientInterceptor()];
}

/** The current trace id, if a span is being recorded. */
export function currentTraceId(): string | undefined {
  const span = trace.getActiveSpan();
  return span?.isRecording() ? span.spanContext().traceId : undefined;
}

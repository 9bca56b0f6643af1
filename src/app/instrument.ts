/**
 * Measures the pipeline's steps at the ports, without touching the adapters: each named method of
 * an adapter is timed into spice_step_duration_seconds{step,outcome} and runs inside a trace span
 * named after its step (a child of the activity's span). The composition root wraps the adapters it
 * builds, so every caller (activities, reconciliation, rebuild) is measured alike.
 */
import { SpanStatusCode, trace } from '@opentelemetry/api';
import { timeStep, type Step, type StepOutcome } from '../contracts/metrics';
import { VersionConflictError } from '../ports/event-store';

const tracer = trace.getTracer('spice-oms');

/** A lost conditional write is a conflict, not an error: another writer holds the version. */
export const appendOutcome = (err: unknown): StepOutcome => (err instanceof VersionConflictError ? 'conflict' : 'error');

type Steps<T> = Partial<Record<keyof T & string, Step | { step: Step; outcomeOf: (err: unknown) => StepOutcome }>>;

/**
 * The same object, its named methods measured. The original runs with the adapter itself as
 * `this`, so the adapter's calls to its own methods are not counted twice.
 */
export function instrument<T extends object>(target: T, steps: Steps<T>): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      const spec = typeof prop === 'string' ? steps[prop as keyof T & string] : undefined;
      if (spec === undefined || typeof value !== 'function') return value;
      const { step, outcomeOf } = typeof spec === 'string' ? { step: spec, outcomeOf: undefined } : spec;
      return (...args: unknown[]) =>
        tracer.startActiveSpan(step, (span) =>
          timeStep(step, () => (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args), outcomeOf).then(
            (result) => {
              span.end();
              return result;
            },
            (err: unknown) => {
              span.recordException(err as Error);
              span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name });
              span.end();
              throw err;
            },
          ),
        );
    },
  });
}

/**
 * The migration's metrics, get-or-create in prom-client's default registry (served at /metrics):
 * reads that took a stream's tail from the other store, events a mode copied in on touch, and the
 * backfill's progress. Labels are low-cardinality: a mode or an outcome, never an id.
 */
import { Counter, Gauge, register } from 'prom-client';

function counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
  return (register.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers: [register] });
}

function gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
  return (register.getSingleMetric(name) as Gauge<L> | undefined) ?? new Gauge({ name, help, labelNames, registers: [register] });
}

export function migrationMetrics() {
  return {
    storageMode: gauge('spice_storage_mode', 'The storage mode in force as this process sees it (1) and the others (0)', ['mode']),
    readFallbacks: counter('spice_event_store_read_fallback_total', 'Stream reads that took a tail the primary store of the mode lacks from the other store', ['mode']),
    caughtUp: counter('spice_event_store_caught_up_events_total', 'Events a mode copied from the other store into its primary store before writing a stream', ['mode']),
    backfillEvents: counter('spice_backfill_events_total', 'Legacy events the backfill met, by outcome (copied into S3, or already present)', ['outcome']),
    backfillLastProgress: gauge('spice_backfill_last_progress_timestamp_seconds', 'When the backfill last finished a chunk (unix seconds)', []),
  };
}

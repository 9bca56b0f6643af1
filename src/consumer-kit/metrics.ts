/**
 * The kit's metrics, per consumer group, in prom-client's default registry unless given one (a
 * consumer process serves it at /metrics). Labels: the group, the read source, the partition.
 */
import { Counter, Gauge, Histogram, type Registry, register as defaultRegistry } from 'prom-client';

function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  // Several consumers in one process (tests, two groups) share the registry; a name registers once.
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

export function consumerMetrics(registry: Registry = defaultRegistry) {
  const registers = [registry];
  return {
    handled: getOrCreate(
      registry,
      'spice_consumer_events_handled_total',
      () => new Counter({ name: 'spice_consumer_events_handled_total', help: 'Events whose effect a consumer group committed', labelNames: ['group'] as const, registers }),
    ),
    reads: getOrCreate(
      registry,
      'spice_consumer_event_reads_total',
      () =>
        new Counter({
          name: 'spice_consumer_event_reads_total',
          help: 'Event bodies read by a consumer group: from S3 by reference, or the payload embedded in the message when S3 failed',
          labelNames: ['group', 'source'] as const,
          registers,
        }),
    ),
    duplicates: getOrCreate(
      registry,
      'spice_consumer_duplicates_skipped_total',
      () =>
        new Counter({
          name: 'spice_consumer_duplicates_skipped_total',
          help: 'Deliveries of an event the group had already processed (redelivery, rebalance, relay duplicate)',
          labelNames: ['group'] as const,
          registers,
        }),
    ),
    failures: getOrCreate(
      registry,
      'spice_consumer_handler_failures_total',
      () => new Counter({ name: 'spice_consumer_handler_failures_total', help: 'Failed attempts of a handler (each is retried until the bound)', labelNames: ['group'] as const, registers }),
    ),
    deadLettered: getOrCreate(
      registry,
      'spice_consumer_dead_lettered_total',
      () => new Counter({ name: 'spice_consumer_dead_lettered_total', help: 'Events sent to the dead-letter topic, by error code', labelNames: ['group', 'code'] as const, registers }),
    ),
    lag: getOrCreate(
      registry,
      'spice_consumer_lag',
      () => new Gauge({ name: 'spice_consumer_lag', help: 'Messages behind the end of each partition after the last batch', labelNames: ['group', 'topic', 'partition'] as const, registers }),
    ),
    latency: getOrCreate(
      registry,
      'spice_consumer_handler_duration_seconds',
      () =>
        new Histogram({
          name: 'spice_consumer_handler_duration_seconds',
          help: 'Time from reading an event to its committed effect (S3 read, handler, transaction)',
          labelNames: ['group'] as const,
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
          registers,
        }),
    ),
  };
}

export type ConsumerMetrics = ReturnType<typeof consumerMetrics>;

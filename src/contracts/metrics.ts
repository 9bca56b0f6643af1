/**
 * Every metric spice-oms exports, by name: a contract with the Grafana dashboard and the alert
 * rules in deploy/observability/ (test/int/observability.int.test.ts checks that each name they use
 * is served). All live in prom-client's default registry of the process, which the API's and each
 * worker's /metrics serve. Labels stay low-cardinality: fixed lists, never an id.
 *
 * Not re-exported from an index: workflow code must never load prom-client.
 */
import { Counter, Gauge, Histogram, Registry, register as defaultRegistry } from 'prom-client';
import { timedStep } from '../lib/step-timings';
import { STORAGE_MODES, type StorageMode } from './storage-mode';

/** The steps a command's events go through; `s3_*` and `pg_*` name the event store that served the step. */
export const STEPS = ['s3_append', 's3_read', 'pg_append', 'pg_read', 'ledger_record', 'kafka_publish', 'projection'] as const;
export type Step = (typeof STEPS)[number];
/** conflict: a conditional write lost (another writer holds the version); error: anything else that failed. */
export const STEP_OUTCOMES = ['success', 'conflict', 'error'] as const;
export type StepOutcome = (typeof STEP_OUTCOMES)[number];
export const FINAL_STATUSES = ['COMPLETED', 'FAILED'] as const;
export const REPAIR_KINDS = ['recorded', 'delivered', 'projected'] as const;
export type RepairKind = (typeof REPAIR_KINDS)[number];
/** What a reconciliation run finds behind: in the event store without a ledger row, undelivered past the grace, delivered or recorded but never projected. */
export const FOUND_KINDS = ['unrecorded', 'undelivered', 'unprojected'] as const;
export type FoundKind = (typeof FOUND_KINDS)[number];
export const BACKFILL_OUTCOMES = ['copied', 'already_present', 'mismatch'] as const;
/** Where a consumer got an event's body: S3 (the source of truth) or the Kafka payload when S3 failed. */
export const READ_SOURCES = ['s3', 'payload_fallback'] as const;

/** Seconds; a step is milliseconds when healthy and may wait on a retrying client for tens of seconds. */
const STEP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function getOrCreate<T>(registry: Registry, name: string, create: () => T): T {
  // Several workers in one process (tests, the API's embedded worker) share the registry.
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

const built = new WeakMap<Registry, SpiceMetrics>();

/** The metric objects of a registry (prom-client's default one unless given), created on first use. */
export function spiceMetrics(registry: Registry = defaultRegistry): SpiceMetrics {
  const known = built.get(registry);
  // A registry cleared since (tests) gets its metrics anew.
  if (known && registry.getSingleMetric('spice_step_duration_seconds') === known.stepDuration) return known;
  const metrics = createMetrics(registry);
  built.set(registry, metrics);
  return metrics;
}

function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    stepDuration: getOrCreate(registry, 'spice_step_duration_seconds', () => {
      const h = new Histogram({
        name: 'spice_step_duration_seconds',
        help: 'Duration of each step of the pipeline (S3/PostgreSQL event store append and read, ledger record, Kafka publish, projection), by outcome',
        labelNames: ['step', 'outcome'] as const,
        buckets: STEP_BUCKETS,
        registers,
      });
      // Every series exists from the start, so rate() and the alert rules see a 0, not nothing.
      for (const step of STEPS) for (const outcome of STEP_OUTCOMES) h.zero({ step, outcome });
      return h;
    }),
    commandsFinished: getOrCreate(
      registry,
      'spice_commands_total',
      () =>
        new Counter({
          name: 'spice_commands_total',
          help: 'Commands whose workflow run ended, by command type and final status',
          labelNames: ['command_type', 'status'] as const,
          registers,
        }),
    ),
    commandsRetrying: getOrCreate(
      registry,
      'spice_commands_retrying',
      () =>
        new Gauge({
          name: 'spice_commands_retrying',
          help: 'Commands this worker has seen fail an attempt of an activity that has not succeeded or failed for good since',
          registers,
        }),
    ),
    oldestRetryingAge: getOrCreate(
      registry,
      'spice_commands_retrying_oldest_age_seconds',
      () =>
        new Gauge({
          name: 'spice_commands_retrying_oldest_age_seconds',
          help: 'Age of the oldest retrying activity this worker knows of, from its first schedule (0 when none)',
          registers,
        }),
    ),
    ledgerPending: getOrCreate(
      registry,
      'spice_ledger_pending_events',
      () =>
        new Gauge({
          name: 'spice_ledger_pending_events',
          help: 'Ledger rows not yet delivered to Kafka (the outbox backlog)',
          registers,
        }),
    ),
    ledgerOldestPendingAge: getOrCreate(
      registry,
      'spice_ledger_oldest_pending_age_seconds',
      () =>
        new Gauge({
          name: 'spice_ledger_oldest_pending_age_seconds',
          help: 'Age of the oldest undelivered ledger row (the outbox lag; 0 when none)',
          registers,
        }),
    ),
    eventsRelayed: getOrCreate(
      registry,
      'spice_events_relayed_total',
      () =>
        new Counter({
          name: 'spice_events_relayed_total',
          help: 'Events published to Kafka and marked delivered by this process',
          registers,
        }),
    ),
    streamCommitCommands: getOrCreate(
      registry,
      'spice_stream_commit_commands',
      () =>
        new Histogram({
          name: 'spice_stream_commit_commands',
          help: 'Commands per commit on one stream (group commit: the commands that waited for a hot stream are appended together); _count is the number of commits',
          buckets: [1, 2, 4, 8, 16, 32, 64],
          registers,
        }),
    ),
    reconcileRepairs: getOrCreate(registry, 'spice_reconcile_repairs_total', () => {
      const c = new Counter({
        name: 'spice_reconcile_repairs_total',
        help: 'Events the reconciliation found behind and repaired, by kind: recorded (in the event store without a ledger row), delivered (undelivered past the grace), projected',
        labelNames: ['kind'] as const,
        registers,
      });
      for (const kind of REPAIR_KINDS) c.inc({ kind }, 0);
      return c;
    }),
    reconcileFound: getOrCreate(registry, 'spice_reconcile_found_total', () => {
      const c = new Counter({
        name: 'spice_reconcile_found_total',
        help: 'Events the reconciliation found behind, by kind: unrecorded (in the event store without a ledger row), undelivered (past the grace), unprojected (recorded, not in the read models past the grace)',
        labelNames: ['kind'] as const,
        registers,
      });
      for (const kind of FOUND_KINDS) c.inc({ kind }, 0);
      return c;
    }),
    reconcileOldestPendingAge: getOrCreate(
      registry,
      'spice_reconcile_oldest_pending_age_seconds',
      () =>
        new Gauge({
          name: 'spice_reconcile_oldest_pending_age_seconds',
          help: 'Age of the oldest event the last reconciliation run found behind (unrecorded, undelivered or unprojected); 0 when it found none',
          registers,
        }),
    ),
    reconcileBlockedStreams: getOrCreate(
      registry,
      'spice_reconcile_blocked_streams',
      () =>
        new Gauge({
          name: 'spice_reconcile_blocked_streams',
          help: 'Streams the last reconciliation run left behind (an event set aside holds back the stream after it)',
          registers,
        }),
    ),
    eventsSetAside: getOrCreate(
      registry,
      'spice_events_set_aside_total',
      () =>
        new Counter({
          name: 'spice_events_set_aside_total',
          help: 'Events a reconciliation or rebuild run could not record, relay, read or project, set aside so the others went on (per run)',
          labelNames: ['stage', 'code'] as const,
          registers,
        }),
    ),
    eventReads: getOrCreate(registry, 'spice_event_reads_total', () => {
      const c = new Counter({
        name: 'spice_event_reads_total',
        help: 'Events read by consumers, by where the body came from (s3, or the Kafka payload when S3 failed)',
        labelNames: ['source'] as const,
        registers,
      });
      // Both series from the start: the fallback ratio is 0, not missing, while S3 serves every read.
      for (const source of READ_SOURCES) c.inc({ source }, 0);
      return c;
    }),
    storageMode: getOrCreate(
      registry,
      'spice_storage_mode',
      () =>
        new Gauge({
          name: 'spice_storage_mode',
          help: 'The storage mode in force in this process: 1 for its mode, 0 for the others',
          labelNames: ['mode'] as const,
          registers,
        }),
    ),
    readFallbacks: getOrCreate(registry, 'spice_event_store_read_fallback_total', () => {
      const c = new Counter({
        name: 'spice_event_store_read_fallback_total',
        help: "Stream reads that took a stream's tail from the other event store, by storage mode",
        labelNames: ['mode'] as const,
        registers,
      });
      for (const mode of STORAGE_MODES) c.inc({ mode }, 0);
      return c;
    }),
    caughtUpEvents: getOrCreate(registry, 'spice_event_store_caught_up_events_total', () => {
      const c = new Counter({
        name: 'spice_event_store_caught_up_events_total',
        help: "Events copied into the storage mode's primary store when a stream was touched",
        labelNames: ['mode'] as const,
        registers,
      });
      for (const mode of STORAGE_MODES) c.inc({ mode }, 0);
      return c;
    }),
    backfillEvents: getOrCreate(registry, 'spice_backfill_events_total', () => {
      const c = new Counter({
        name: 'spice_backfill_events_total',
        help: 'Legacy events the backfill handled, by outcome (copied to S3, already present, mismatch)',
        labelNames: ['outcome'] as const,
        registers,
      });
      for (const outcome of BACKFILL_OUTCOMES) c.inc({ outcome }, 0);
      return c;
    }),
    backfillStreamsRemaining: getOrCreate(
      registry,
      'spice_backfill_streams_remaining',
      () =>
        new Gauge({
          name: 'spice_backfill_streams_remaining',
          help: 'Streams the running backfill has still to copy (0 when none runs)',
          registers,
        }),
    ),
    backfillLastProgress: getOrCreate(
      registry,
      'spice_backfill_last_progress_timestamp_seconds',
      () =>
        new Gauge({
          name: 'spice_backfill_last_progress_timestamp_seconds',
          help: "Unix time of the backfill's last completed chunk (0 before any)",
          registers,
        }),
    ),
    // The consumer kit (src/consumer-kit), per consumer group: its series appear once a group runs.
    consumerHandled: getOrCreate(
      registry,
      'spice_consumer_events_handled_total',
      () => new Counter({ name: 'spice_consumer_events_handled_total', help: 'Events whose effect a consumer group committed', labelNames: ['group'] as const, registers }),
    ),
    consumerReads: getOrCreate(
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
    consumerDuplicates: getOrCreate(
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
    consumerFailures: getOrCreate(
      registry,
      'spice_consumer_handler_failures_total',
      () => new Counter({ name: 'spice_consumer_handler_failures_total', help: 'Failed attempts of a handler (each is retried until the bound)', labelNames: ['group'] as const, registers }),
    ),
    consumerDeadLettered: getOrCreate(
      registry,
      'spice_consumer_dead_lettered_total',
      () => new Counter({ name: 'spice_consumer_dead_lettered_total', help: 'Events sent to the dead-letter topic, by error code', labelNames: ['group', 'code'] as const, registers }),
    ),
    consumerLag: getOrCreate(
      registry,
      'spice_consumer_lag',
      () => new Gauge({ name: 'spice_consumer_lag', help: 'Messages behind the end of each partition after the last batch', labelNames: ['group', 'topic', 'partition'] as const, registers }),
    ),
    consumerLatency: getOrCreate(
      registry,
      'spice_consumer_handler_duration_seconds',
      () =>
        new Histogram({
          name: 'spice_consumer_handler_duration_seconds',
          help: 'Time from reading an event to its committed effect (S3 read, handler, transaction)',
          labelNames: ['group'] as const,
          buckets: STEP_BUCKETS,
          registers,
        }),
    ),
  };
}

export type SpiceMetrics = ReturnType<typeof createMetrics>;

export function setStorageMode(mode: StorageMode, registry: Registry = defaultRegistry): void {
  const gauge = spiceMetrics(registry).storageMode;
  for (const m of STORAGE_MODES) gauge.set({ mode: m }, m === mode ? 1 : 0);
}

/**
 * Times `fn` as one sample of `step`, and as a step of the activity's own timings (lib/step-timings);
 * `outcomeOf` tells a lost conditional write from an error.
 */
export async function timeStep<T>(step: Step, fn: () => Promise<T>, outcomeOf: (err: unknown) => StepOutcome = () => 'error', registry?: Registry): Promise<T> {
  const end = spiceMetrics(registry).stepDuration.startTimer({ step });
  try {
    const result = await timedStep(step, fn, { outcomeOf });
    end({ outcome: 'success' });
    return result;
  } catch (err) {
    end({ outcome: outcomeOf(err) });
    throw err;
  }
}

/**
 * Bench copy of src/workflows/process-command.ts with every activity as a local activity (an
 * experiment for the report; generated with sed from the shipped file, nothing else changed).
 */
import { proxyLocalActivities, setHandler, ApplicationFailure, ActivityFailure, RetryPolicy } from '@temporalio/workflow';
import type { Activities } from '../../src/activities';
import {
  AppendedEventRef,
  CommandProgress,
  NON_RETRYABLE_TYPES,
  ProcessCommandInput,
  ProcessCommandResult,
  progressQuery,
} from '../../src/workflows/definitions';

/** Infrastructure failures retry without limit in time, with backoff capped at 10 s; refusals never do. */
const infraRetry: RetryPolicy = {
  initialInterval: '100 milliseconds',
  backoffCoefficient: 2,
  maximumInterval: '10 seconds',
  nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
};

const { decideAndAppend, prepareBulk, appendBulkBatch } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '60 seconds',
  retry: infraRetry,
});

// Delivery waits on the predecessor of its stream version: retry quickly while it catches up.
const { deliver, project } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { ...infraRetry, initialInterval: '50 milliseconds', maximumInterval: '5 seconds' },
});

const MAX_LISTED_EVENTS = 20;

export async function processCommand(input: ProcessCommandInput): Promise<ProcessCommandResult> {
  const progress: CommandProgress = { phase: 'PENDING', events: [] };
  setHandler(progressQuery, () => progress);

  try {
    if (input.command_type === 'BULK_CREATE_INSTANCES') return await processBulk(input, progress);

    progress.phase = 'DECIDING';
    const appended = await decideAndAppend(input);
    progress.events = appended.events;
    progress.phase = 'DELIVERING';
    await deliverAndProject(appended.events);
    progress.phase = 'COMPLETED';
    return {
      command_id: input.command_id,
      command_type: input.command_type,
      aggregate_type: appended.aggregate_type,
      aggregate_id: appended.aggregate_id,
      version: appended.version,
      events: appended.events,
      event_count: appended.events.length,
    };
  } catch (err) {
    progress.phase = 'FAILED';
    throw unwrapRefusal(err);
  }
}

async function processBulk(input: ProcessCommandInput, progress: CommandProgress): Promise<ProcessCommandResult> {
  progress.phase = 'DECIDING';
  const plan = await prepareBulk(input);
  progress.batches_total = plan.batches_total;
  progress.instances_total = plan.instances_total;
  progress.batches_done = 0;
  progress.phase = 'APPENDING';

  const all: AppendedEventRef[] = [];
  let version = plan.start_version;
  // Batches are appended in order (one stream, consecutive versions); delivering and projecting a
  // batch overlaps with appending the next one.
  let inFlight: Promise<void> = Promise.resolve();
  for (let batch = 0; batch < plan.batches_total; batch++) {
    const appended = await appendBulkBatch({ input, batch, plan_ref: plan.plan_ref });
    all.push(...appended.events);
    version = appended.version;
    const previous = inFlight;
    inFlight = (async () => {
      await previous;
      await deliverAndProject(appended.events);
      progress.batches_done = (progress.batches_done ?? 0) + 1;
    })();
    progress.events = all.slice(0, MAX_LISTED_EVENTS);
  }
  await inFlight;
  progress.phase = 'COMPLETED';
  return {
    command_id: input.command_id,
    command_type: input.command_type,
    aggregate_type: plan.aggregate_type,
    aggregate_id: plan.aggregate_id,
    version,
    events: all.slice(0, MAX_LISTED_EVENTS),
    event_count: all.length,
  };
}

async function deliverAndProject(events: AppendedEventRef[]): Promise<void> {
  if (events.length === 0) return;
  const ids = events.map((e) => e.event_id);
  // Kafka and the read models are independent consumers of the same stored events.
  await Promise.all([deliver(ids), project(events)]);
}

/** A refusal raised in an activity reaches the client as the workflow's own failure, with its code. */
function unwrapRefusal(err: unknown): unknown {
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable) {
    return ApplicationFailure.create({
      type: err.cause.type ?? 'COMMAND_FAILED',
      message: err.cause.message,
      details: err.cause.details as unknown[],
      nonRetryable: true,
    });
  }
  return err;
}

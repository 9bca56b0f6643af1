/**
 * processCommand: one durable run per command. Workflow code only: deterministic, no I/O; every
 * effect is an activity, retried by Temporal until the service behind it is back.
 *
 * A single command first runs as one local activity: one workflow task and one activation for the
 * whole command instead of three tasks and a task-queue round trip per step. If that attempt fails,
 * the steps continue as regular activities, retried without limit and visible as such (pending
 * activity, attempt count, last failure) in the status endpoint and the Web UI.
 */
import {
  proxyActivities,
  proxyLocalActivities,
  proxySinks,
  patched,
  setHandler,
  ApplicationFailure,
  ActivityFailure,
  CancellationScope,
  RetryPolicy,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CommandSinks } from '../contracts/workflow-sinks';
import { commandSummary, commandTarget, truncate } from '../contracts/summaries';
import { AppendedEventRef, CommandProgress, ProcessCommandInput, ProcessCommandResult, progressQuery } from '../contracts/workflows';
import { NON_RETRYABLE_TYPES } from '../contracts/refusals';

/** Infrastructure failures retry without limit in time, with backoff capped at 10 s; refusals never do. */
const infraRetry: RetryPolicy = {
  initialInterval: '100 milliseconds',
  backoffCoefficient: 2,
  maximumInterval: '10 seconds',
  nonRetryableErrorTypes: [...NON_RETRYABLE_TYPES],
};

const stepOptions: ActivityOptions = { startToCloseTimeout: '60 seconds', retry: infraRetry };
const { decideAndAppend, prepareBulk, appendBulkBatch } = proxyActivities<Activities>(stepOptions);

// A bulk command claims every instance on its own stream before its first batch: for tens of
// thousands of instances that outlasts 60 s on a busy store, so it heartbeats instead.
const claimingOptions: ActivityOptions = { startToCloseTimeout: '30 minutes', heartbeatTimeout: '60 seconds', retry: infraRetry };
const claiming = proxyActivities<Activities>(claimingOptions);
/** Histories recorded before bulk claims replay with the 60 s prepareBulk. */
const BULK_CLAIMS = 'bulk-claims-heartbeat';

// Delivery waits on the predecessor of its stream version: retry quickly while it catches up.
const deliveryOptions: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { ...infraRetry, initialInterval: '50 milliseconds', maximumInterval: '5 seconds' },
};
const { deliver, project } = proxyActivities<Activities>(deliveryOptions);

// One local attempt: anything that fails it is better served by the durable path, which shows up
// as RETRYING and backs off properly.
const fastOptions: LocalActivityOptions = { startToCloseTimeout: '15 seconds', retry: { ...infraRetry, maximumAttempts: 1 } };
const fast = proxyLocalActivities<Activities>(fastOptions);

// A command's last step must not fail it: retried like any infrastructure failure.
const { forgetCommandBody } = proxyLocalActivities<Activities>({ startToCloseTimeout: '15 seconds', retry: infraRetry });
/** Histories recorded before command bodies in S3 were sealed end without forgetting the body's key. */
const FORGET_COMMAND_BODY = 'forget-command-body';

/** Histories recorded before the local fast path replay through the old branch. */
const LOCAL_FAST_PATH = 'local-activities-fast-path';
/** Activities carry a one-line summary for the Web UI; histories recorded before replay without. */
const ACTIVITY_SUMMARIES = 'activity-summaries';

const { commandMetrics } = proxySinks<CommandSinks>();

/** Calls the activity with a Web UI summary, in runs that started with summaries. */
function withSummary<A extends unknown[], R, O>(fn: ((...args: A) => Promise<R>) & { executeWithOptions(options: O, args: A): Promise<R> }, options: O, summary: string, ...args: A): Promise<R> {
  return patched(ACTIVITY_SUMMARIES) ? fn.executeWithOptions({ ...options, summary: truncate(summary) }, args) : fn(...args);
}

/** "UPDATE_INSTANCE library/ada"; a bulk's body is in S3, so its summary names the type alone. */
function summaryOf(input: ProcessCommandInput): string {
  return commandSummary(input.command_type, input.command ? commandTarget(input.command) : '');
}

const MAX_LISTED_EVENTS = 20;

function isRefusal(err: unknown): boolean {
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.nonRetryable === true;
}

/** Histories recorded before this decided a local activity's refusal again with decideAndAppend. */
const LOCAL_REFUSAL_FINAL = 'local-refusal-final';

/**
 * A local activity's failure reaches the workflow as the ApplicationFailure itself, not wrapped in
 * an ActivityFailure: a refusal there is as final as anywhere else (a second decision would only
 * repeat it, one durable activity later).
 */
function isLocalRefusal(err: unknown): boolean {
  return err instanceof ApplicationFailure && err.nonRetryable === true && patched(LOCAL_REFUSAL_FINAL);
}

/**
 * The whole command as one local activity; when it fails for any reason but a refusal, the
 * durable steps take over where it stopped (each step is idempotent).
 */
async function fastPath(input: ProcessCommandInput, progress: CommandProgress) {
  try {
    return await withSummary(fast.runCommand, fastOptions, `${summaryOf(input)}: decide, append, deliver, project`, input);
  } catch (err) {
    if (isRefusal(err) || isLocalRefusal(err)) throw err;
    return durablePath(input, progress);
  }
}

async function durablePath(input: ProcessCommandInput, progress: CommandProgress) {
  const appended = await withSummary(decideAndAppend, stepOptions, `decide and append ${summaryOf(input)}`, input);
  progress.events = appended.events;
  progress.phase = 'DELIVERING';
  await deliverAndProject(appended.events);
  return appended;
}

export async function processCommand(input: ProcessCommandInput): Promise<ProcessCommandResult> {
  const progress: CommandProgress = { phase: 'PENDING', events: [] };
  setHandler(progressQuery, () => progress);

  let result: ProcessCommandResult;
  try {
    result = input.command_type === 'BULK_CREATE_INSTANCES' ? await processBulk(input, progress) : await processSingle(input, progress);
  } catch (err) {
    progress.phase = 'FAILED';
    // Also when the run was cancelled: the body must not outlive its command.
    await CancellationScope.nonCancellable(() => forgetBody(input));
    commandMetrics.finished(input.command_type, 'FAILED');
    throw unwrapRefusal(err);
  }
  await forgetBody(input);
  // A sink call leaves no trace in the history: counting bulk commands too needs no patch.
  commandMetrics.finished(input.command_type, 'COMPLETED');
  return result;
}

/** A body kept in S3 is read by decide only: once the command has ended (either way) nothing reads it again. */
async function forgetBody(input: ProcessCommandInput): Promise<void> {
  if (input.command_ref !== undefined && patched(FORGET_COMMAND_BODY)) await forgetCommandBody(input.command_id);
}

async function processSingle(input: ProcessCommandInput, progress: CommandProgress): Promise<ProcessCommandResult> {
  progress.phase = 'DECIDING';
  const appended = patched(LOCAL_FAST_PATH) ? await fastPath(input, progress) : await durablePath(input, progress);
  progress.phase = 'COMPLETED';
  return resultOf(input, appended, appended.events);
}

async function processBulk(input: ProcessCommandInput, progress: CommandProgress): Promise<ProcessCommandResult> {
  progress.phase = 'DECIDING';
  const plan = patched(BULK_CLAIMS) ? await withSummary(claiming.prepareBulk, claimingOptions, `plan and claim the instances of ${summaryOf(input)}`, input) : await prepareBulk(input);
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
    const appended = await withSummary(appendBulkBatch, stepOptions, `append batch ${batch + 1} of ${plan.batches_total}`, { input, batch, plan_ref: plan.plan_ref });
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
  return resultOf(input, { ...plan, version }, all);
}

/** The command's result; a bulk command lists its first events only, its count is complete. */
function resultOf(input: ProcessCommandInput, stream: { aggregate_type: string; aggregate_id: string; version: number }, events: AppendedEventRef[]): ProcessCommandResult {
  return {
    command_id: input.command_id,
    command_type: input.command_type,
    aggregate_type: stream.aggregate_type,
    aggregate_id: stream.aggregate_id,
    version: stream.version,
    events: events.slice(0, MAX_LISTED_EVENTS),
    event_count: events.length,
  };
}

async function deliverAndProject(events: AppendedEventRef[]): Promise<void> {
  if (events.length === 0) return;
  const ids = events.map((e) => e.event_id);
  // Kafka and the read models are independent consumers of the same stored events.
  await Promise.all([
    withSummary(deliver, deliveryOptions, `deliver ${ids.length} event(s) to Kafka`, ids),
    withSummary(project, deliveryOptions, `project ${events.length} event(s) into the read models`, events),
  ]);
}

/** A refusal raised in an activity reaches the client as the workflow's own failure, with its code. */
function unwrapRefusal(err: unknown): unknown {
  if (isRefusal(err) && err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
    return ApplicationFailure.create({
      type: err.cause.type ?? 'COMMAND_FAILED',
      message: err.cause.message,
      details: err.cause.details as unknown[],
      nonRetryable: true,
    });
  }
  return err;
}

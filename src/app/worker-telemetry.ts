/**
 * What a worker process reports about the commands it runs, beyond each step's own timing
 * (instrument.ts): commands finished (a workflow sink), activities retrying and the age of the
 * oldest (an activity interceptor), and one log line per activity outcome carrying the command's
 * ids and trace id.
 */
import { trace } from '@opentelemetry/api';
import { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, ActivityInterceptorsFactory, InjectedSinks, Next } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import pino, { type Logger } from 'pino';
import { spiceMetrics } from '../contracts/metrics';
import type { CommandSinks } from '../contracts/workflow-sinks';

export function commandSinks(): InjectedSinks<CommandSinks> {
  const counter = spiceMetrics().commandsFinished;
  return { commandMetrics: { finished: { fn: (_info, commandType, status) => counter.inc({ command_type: commandType, status }) } } };
}

/**
 * Activities whose last attempt failed and that have not succeeded or failed for good since. An
 * entry nobody refreshed for STALE_MS (its workflow was terminated, another worker took it over)
 * is dropped: retries come back within the 10 s backoff cap plus the step's timeout.
 */
export class RetryTracker {
  static readonly STALE_MS = 5 * 60_000;
  private readonly entries = new Map<string, { since: number; seen: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  failed(key: string, firstScheduledMs: number): void {
    this.entries.set(key, { since: firstScheduledMs, seen: this.now() });
  }

  settled(key: string): void {
    this.entries.delete(key);
  }

  snapshot(): { count: number; oldestAgeSeconds: number } {
    const now = this.now();
    let oldest = now;
    for (const [key, e] of this.entries) {
      if (now - e.seen > RetryTracker.STALE_MS) this.entries.delete(key);
      else oldest = Math.min(oldest, e.since);
    }
    return { count: this.entries.size, oldestAgeSeconds: (now - oldest) / 1000 };
  }
}

/** The ids a log line of an activity names: the command's, and the aggregate's and events' it handled. */
export function commandIds(args: unknown[], result?: unknown): Record<string, unknown> {
  const ids: Record<string, unknown> = {};
  const first = args[0] as Record<string, unknown> | unknown[] | undefined;
  if (first && !Array.isArray(first) && typeof first === 'object') {
    const input = (first.input ?? first) as Record<string, unknown>;
    if (typeof input.command_id === 'string') ids.command_id = input.command_id;
    if (typeof input.command_type === 'string') ids.command_type = input.command_type;
  }
  const events = eventRefs(Array.isArray(first) ? first : (result as { events?: unknown } | null | undefined)?.events);
  if (events.length > 0) {
    ids.event_ids = events.slice(0, 20).map((e) => (typeof e === 'string' ? e : e.event_id));
    const ref = events.find((e): e is { aggregate_type: string; aggregate_id: string; event_id: string } => typeof e !== 'string' && typeof e.aggregate_id === 'string');
    if (ref) ids.aggregate = `${ref.aggregate_type}/${ref.aggregate_id}`;
  }
  const r = result as { aggregate_type?: unknown; aggregate_id?: unknown } | undefined;
  if (typeof r?.aggregate_id === 'string') ids.aggregate = `${String(r.aggregate_type)}/${r.aggregate_id}`;
  return ids;
}

/** Results of other activities may carry `events` as a count or a summary: only lists of refs are read. */
function eventRefs(list: unknown): Array<string | { event_id: string; aggregate_type?: string; aggregate_id?: string }> {
  if (!Array.isArray(list)) return [];
  return list.filter((e): e is string | { event_id: string } => typeof e === 'string' || (typeof e === 'object' && e !== null && typeof (e as { event_id?: unknown }).event_id === 'string'));
}

/** The process's tracker: every worker of the process reports into one pair of gauges. */
export const retryTracker = new RetryTracker();

const silent = pino({ level: 'silent' });

export function activityTelemetry(log: Logger = silent, tracker: RetryTracker = retryTracker): ActivityInterceptorsFactory {
  return (ctx: Context) => ({ inbound: new TelemetryInbound(ctx, log, tracker) });
}

class TelemetryInbound implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly ctx: Context,
    private readonly log: Logger,
    private readonly tracker: RetryTracker,
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const info = this.ctx.info;
    const run = info.workflowExecution ?? { workflowId: '', runId: '' };
    const key = `${run.workflowId}/${run.runId}/${info.activityId}`;
    const started = Date.now();
    const line = () => ({
      workflow_id: run.workflowId,
      run_id: run.runId,
      activity: info.activityType,
      attempt: info.attempt,
      local: info.isLocal,
      trace_id: trace.getActiveSpan()?.spanContext().traceId,
      duration_ms: Date.now() - started,
    });
    let result: unknown;
    try {
      result = await next(input);
    } catch (err) {
      const final = err instanceof ApplicationFailure && err.nonRetryable === true;
      // A local attempt is not retried locally: the workflow goes on with the durable activities.
      if (final || info.isLocal) this.tracker.settled(key);
      else this.tracker.failed(key, info.scheduledTimestampMs);
      const code = err instanceof ApplicationFailure ? err.type : (err as Error)?.name;
      this.log.warn({ ...line(), ...idsOf(input.args), code, final }, final ? 'activity refused' : 'activity failed, Temporal retries it');
      throw err;
    }
    // Outside the try: a log line must never turn a completed activity (its effects done) into a retry.
    this.tracker.settled(key);
    this.log.info({ ...line(), ...idsOf(input.args, result) }, 'activity completed');
    return result;
  }
}

function idsOf(args: unknown[], result?: unknown): Record<string, unknown> {
  try {
    return commandIds(args, result);
  } catch {
    return {};
  }
}

/** Keeps the retrying gauges current (every few seconds, and never keeping the process alive). */
export function publishRetrying(tracker: RetryTracker = retryTracker, everyMs = 5000): () => void {
  const m = spiceMetrics();
  const update = () => {
    const { count, oldestAgeSeconds } = tracker.snapshot();
    m.commandsRetrying.set(count);
    m.oldestRetryingAge.set(oldestAgeSeconds);
  };
  update();
  const timer = setInterval(update, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Keeps the outbox gauges current: rows not yet delivered and the age of the oldest (the partial
 * index on undelivered rows keeps this cheap however long the ledger grows).
 */
export function publishLedgerBacklog(pool: Pool, schema: string, log: Logger, everyMs = 5000): () => void {
  const m = spiceMetrics();
  const sql = `SELECT count(*)::int AS pending, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 AS oldest
               FROM ${schema}.delivery_ledger WHERE status <> 'delivered'`;
  let running = false;
  const update = async () => {
    if (running) return;
    running = true;
    try {
      const { rows } = await pool.query<{ pending: number; oldest: number }>(sql);
      m.ledgerPending.set(rows[0].pending);
      m.ledgerOldestPendingAge.set(rows[0].oldest);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'outbox gauges not refreshed');
    } finally {
      running = false;
    }
  };
  void update();
  const timer = setInterval(() => void update(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

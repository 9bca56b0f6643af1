/** How the API submits commands and reads their status: implemented over the Temporal client (src/app/command-gateway.ts). */
import type { CommandType, ErrorDetail } from '../domain';
import type { AppendedEventRef, CommandProgress, ProcessCommandResult } from '../contracts/workflows';

/**
 * A bulk's payload read from the request as it arrives, never held whole: the gateway calls
 * writeItems once, which hands over each item's JSON as soon as it is validated (ids assigned,
 * defaults applied) and resolves with their count; it rejects at the first bad item, and then
 * nothing of the command may be kept.
 */
export interface StreamedItems {
  readonly streamed: true;
  class_id: string;
  writeItems(write: (itemJson: string) => Promise<void>): Promise<number>;
}

export const isStreamedItems = (payload: unknown): payload is StreamedItems => (payload as Partial<StreamedItems> | null)?.streamed === true;

export interface SubmitCommand {
  command_type: CommandType;
  db_name?: string;
  /** The validated payload (instance ids already assigned), or a bulk's items as they are read. */
  payload: unknown;
  /** Client Idempotency-Key header; the command id is derived from it, so a resubmission meets the first run. */
  idempotency_key?: string;
  /** From If-Match. */
  expected_version?: number;
  actor: string;
}

export interface SubmitOutcome {
  command_id: string;
  /** false when the command id already had a run (a resubmission): its status is the first run's. */
  created: boolean;
}

export type CommandStatus = 'PENDING' | 'PROCESSING' | 'COMPLETED' | 'FAILED' | 'RETRYING';

export interface EventDelivery extends AppendedEventRef {
  delivery: { status: 'pending' | 'delivered' | 'failed' | 'unknown'; attempts: number; kafka_partition?: number; kafka_offset?: string; delivered_at?: string; last_error?: string };
}

/**
 * What dependencies said behind a view's codes and safe messages (hosts, SQL, object keys): the
 * routes log it under the request id. A symbol key, so JSON never writes it into an answer.
 */
export const FAILURE_DETAIL = Symbol('failure-detail');

export interface CommandStatusView {
  command_id: string;
  command_type: CommandType | string;
  status: CommandStatus;
  /** The database the command is about (the one it creates, for CREATE_DATABASE): who may read its status. */
  db_name?: string;
  submitted_at?: string;
  started_at?: string;
  closed_at?: string;
  progress?: CommandProgress;
  result?: ProcessCommandResult;
  events: EventDelivery[];
  error?: { code: string; message: string; details: ErrorDetail[] };
  /** Set while an activity is being retried after an infrastructure failure. */
  /**
   * code: the type of the last failure (e.g. EVENT_NOT_RECORDABLE), or DEPENDENCY_FAILED for an
   * untyped one; last_failure says it in our words, the dependency's own are in the log.
   */
  retry?: RetryView;
  /** The OpenTelemetry trace of the command (HTTP request, workflow, activities), when tracing is on. */
  trace_id?: string;
  [FAILURE_DETAIL]?: Record<string, string>;
}

/** The step of the command an activity is, as GET /commands/{id} names it. */
export type CommandStep = 'claim' | 'append' | 'relay' | 'project' | 'other';

export interface RetryView {
  activity: string;
  /** Which step of the lifecycle waits: append (decide and store in S3, record in the ledger), relay (Kafka), project (read models), claim (a bulk's ids). */
  step: CommandStep;
  attempt: number;
  /** When this step was first scheduled: how long the command has waited on it, however many attempts. */
  since?: string;
  /** When Temporal tries it next. */
  next_attempt_at?: string;
  code?: string;
  last_failure?: string;
}

export interface CommandGateway {
  submit(cmd: SubmitCommand): Promise<SubmitOutcome>;
  status(commandId: string): Promise<CommandStatusView | null>;
  /**
   * Waits up to timeoutMs for the command to close; returns its status either way. Nothing of the
   * wait outlives it: at the timeout, or when `signal` aborts (the client went away), it stops.
   */
  wait(commandId: string, timeoutMs: number, signal?: AbortSignal): Promise<CommandStatusView | null>;
  /** Whether the command has finished (or is unknown): cheaper than status, for counting what is in flight. */
  isClosed(commandId: string): Promise<boolean>;
}

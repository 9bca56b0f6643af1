/**
 * What the REST API needs from the rest of the system, as interfaces: the app is built over them
 * (createApp(ports)), the composition root passes the real implementations.
 */
import type { InputLimits } from '../config';
import type { CommandType, ErrorDetail } from '../domain';
import type { EventEnvelope } from '../adapters/event-envelope';
import type { AppendedEventRef, CommandProgress, ProcessCommandResult } from '../workflows/definitions';

// ---- commands -------------------------------------------------------------------------------

export interface SubmitCommand {
  command_type: CommandType;
  db_name?: string;
  /** The validated payload (instance ids already assigned). */
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
  retry?: { activity: string; attempt: number; code?: string; last_failure?: string };
  [FAILURE_DETAIL]?: Record<string, string>;
}

export interface CommandGateway {
  submit(cmd: SubmitCommand): Promise<SubmitOutcome>;
  status(commandId: string): Promise<CommandStatusView | null>;
  /**
   * Waits up to timeoutMs for the command to close; returns its status either way. Nothing of the
   * wait outlives it: at the timeout, or when `signal` aborts (the client went away), it stops.
   */
  wait(commandId: string, timeoutMs: number, signal?: AbortSignal): Promise<CommandStatusView | null>;
}

// ---- read models ----------------------------------------------------------------------------

export interface DatabaseView {
  name: string;
  description: string | null;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface ClassView {
  db_name: string;
  id: string;
  label: string;
  description: string | null;
  parent_class: string | null;
  abstract: boolean;
  /** The class definition as stored (properties, relationships). */
  definition: Record<string, unknown>;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface InstanceView {
  db_name: string;
  id: string;
  class_id: string;
  properties: Record<string, unknown>;
  relationships: Record<string, string | string[]>;
  /** The instance stream's version (0 for instances created by a bulk command and not changed since). */
  version: number;
  created_at: string;
  updated_at: string;
}

export interface EdgeView {
  from_id: string;
  predicate: string;
  to_id: string;
}

/** Keyset paging: up to `limit` items after the cursor a previous page returned. */
export interface PageQuery {
  limit: number;
  cursor?: string;
}

export type { Page } from '../domain/paging';
import type { Page } from '../domain/paging';

export interface InstanceQuery extends PageQuery {
  class_id?: string;
  /** property equality filters, e.g. { name: 'Ada' } */
  filter?: Record<string, string | number | boolean>;
}

/** One page of an instance's edges; incoming edges are listed before outgoing ones across pages. */
export interface RelationshipPage {
  outgoing: EdgeView[];
  incoming: EdgeView[];
  next_cursor: string | null;
}

export interface ReadModelQueries {
  listDatabases(q: PageQuery): Promise<Page<DatabaseView>>;
  getDatabase(name: string): Promise<DatabaseView | null>;
  listClasses(db: string, q: PageQuery): Promise<Page<ClassView>>;
  getClass(db: string, classId: string): Promise<ClassView | null>;
  listInstances(db: string, q: InstanceQuery): Promise<Page<InstanceView>>;
  getInstance(db: string, id: string): Promise<InstanceView | null>;
  relationships(db: string, id: string, q: PageQuery): Promise<RelationshipPage>;
  /** Breadth-first over edges in both directions, bounded by depth (and a node limit). */
  traverse(db: string, id: string, depth: number, limit: number): Promise<{ nodes: InstanceView[]; edges: EdgeView[] }>;
  search(db: string, text: string, q: { class_id?: string; limit: number }): Promise<InstanceView[]>;
}

// ---- event history (S3, or PostgreSQL in legacy mode) ---------------------------------------

export interface EventHistory {
  /** Events of one stream in version order, from fromVersion (default 1) up to toVersion when given. */
  readStream(aggregateType: string, aggregateId: string, toVersion?: number, fromVersion?: number): Promise<EventEnvelope[]>;
}

// ---- health ---------------------------------------------------------------------------------

export interface HealthCheck {
  name: 'temporal' | 's3' | 'postgres' | 'kafka' | string;
  check(): Promise<void>;
}

export interface ApiPorts {
  commands: CommandGateway;
  readModels: ReadModelQueries;
  history: EventHistory;
  health: HealthCheck[];
  /** Upper bound of ?wait=true / Prefer: wait=N. */
  maxWaitMs: number;
  /** Largest body in bytes: API_BODY_LIMIT as the config parsed and checked it. */
  bodyLimitBytes: number;
  limits: InputLimits;
}

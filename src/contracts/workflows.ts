/**
 * What the workflow, its callers (API, tests, benchmarks) and its activities agree on: the input
 * and result of a command run, its progress query, search attribute keys and the workflow id rule.
 * Safe to import from workflow code: no Node APIs, only types and @temporalio/workflow/common.
 */
import { defineQuery } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { StorageMode } from './storage-mode';
import type { CommandInput, CommandType } from '../domain';
import type { S3Reference } from './event-envelope';

/** The workflow type's name, for tests and tools that address it by name (the app starts it by its function). */
export const WORKFLOW_TYPE = 'processCommand';

/** One workflow per command: the id is derived from the command id alone, so a resubmission meets the first run. */
export const workflowIdOf = (commandId: string): string => `command-${commandId}`;
export const commandIdOfWorkflow = (workflowId: string): string => workflowId.replace(/^command-/, '');

export const SearchAttributes = {
  CommandType: defineSearchAttributeKey('CommandType', SearchAttributeType.KEYWORD),
  AggregateType: defineSearchAttributeKey('AggregateType', SearchAttributeType.KEYWORD),
  AggregateId: defineSearchAttributeKey('AggregateId', SearchAttributeType.KEYWORD),
  DatabaseName: defineSearchAttributeKey('DatabaseName', SearchAttributeType.KEYWORD),
  StorageMode: defineSearchAttributeKey('StorageMode', SearchAttributeType.KEYWORD),
};

export interface ProcessCommandInput {
  command_id: string;
  command_type: CommandType;
  /** The command inline, when small. */
  command?: CommandInput;
  /** Large commands (bulk) are stored in S3 by the API first: Temporal payloads stay far below 2 MB. */
  command_ref?: S3Reference;
  /** From HTTP If-Match: the version the client saw; absent means "re-read and retry on conflict". */
  expected_version?: number;
  actor: string;
  submitted_at: string;
  storage_mode: StorageMode;
  /** Hash of the request, so a reused Idempotency-Key with another body can be refused. */
  request_hash?: string;
}

export interface AppendedEventRef {
  event_id: string;
  event_type: string;
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  s3?: S3Reference;
}

export interface ProcessCommandResult {
  command_id: string;
  command_type: CommandType;
  aggregate_type: string;
  aggregate_id: string;
  /** Stream version after the command. */
  version: number;
  events: AppendedEventRef[];
  /** For bulk commands only the first few references are listed; the count is complete. */
  event_count: number;
}

export type CommandPhase = 'PENDING' | 'DECIDING' | 'APPENDING' | 'DELIVERING' | 'COMPLETED' | 'FAILED';

export interface CommandProgress {
  phase: CommandPhase;
  batches_total?: number;
  batches_done?: number;
  instances_total?: number;
  events: AppendedEventRef[];
}

export const progressQuery = defineQuery<CommandProgress>('progress');

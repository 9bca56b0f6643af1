/**
 * The API's door to Temporal: starts one processCommand run per command id (a resubmission meets
 * the first run, never a second one), and reads a command's status back from its run and the ledger.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { ApplicationFailure, TerminatedFailure, TimeoutFailure, CancelledFailure } from '@temporalio/common';
import type { StorageMode } from '../config';
import { CommandInput, streamOf, isDomainErrorData } from '../domain';
import type { LedgerRow } from '../adapters/ledger';
import {
  CommandProgress,
  ProcessCommandInput,
  ProcessCommandResult,
  SearchAttributes,
  WORKFLOW_TYPE,
  progressQuery,
  workflowIdOf,
} from '../workflows/definitions';
import type { CommandGateway, CommandStatusView, EventDelivery, SubmitCommand, SubmitOutcome } from './ports';

export class IdempotencyKeyReusedError extends Error {
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  constructor(readonly commandId: string) {
    super('this Idempotency-Key was already used with a different request');
  }
}

export interface GatewayOptions {
  client: Client;
  taskQueue: string;
  storageMode: StorageMode;
  blobs: { bodyOf(commandId: string, hash: string): { bucket: string; key: string; endpoint: string; event_id: string }; putJson(ref: { bucket: string; key: string }, body: unknown): Promise<void> };
  ledger: { byEventIds(ids: string[]): Promise<LedgerRow[]> };
  /** Ask the server to hand the first workflow task to this process's own worker. */
  eagerStart?: boolean;
  /** Commands whose JSON is larger go to S3 and travel by reference (Temporal payloads stay small). */
  inlineLimitBytes?: number;
}

interface CommandMemo {
  request_hash: string;
  submitted_at: string;
  command_type: string;
  nonce: string;
}

/** A stable command id per Idempotency-Key: the same key always names the same command. */
export function commandIdForKey(key: string): string {
  const h = createHash('sha256').update(`spice-oms:idempotency:${key}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class TemporalCommandGateway implements CommandGateway {
  private readonly inlineLimit: number;

  constructor(private readonly o: GatewayOptions) {
    this.inlineLimit = o.inlineLimitBytes ?? 128 * 1024;
  }

  async submit(cmd: SubmitCommand): Promise<SubmitOutcome> {
    const commandId = cmd.idempotency_key ? commandIdForKey(cmd.idempotency_key) : randomUUID();
    const command = {
      command_type: cmd.command_type,
      ...(cmd.db_name !== undefined ? { db_name: cmd.db_name } : {}),
      ...(cmd.command_type === 'BULK_CREATE_INSTANCES' ? { batch_id: commandId } : {}),
      payload: cmd.payload,
    } as CommandInput;
    const json = JSON.stringify(command);
    const requestHash = createHash('sha256').update(json).update(`|${cmd.expected_version ?? ''}`).digest('hex');
    const submittedAt = new Date().toISOString();
    const input: ProcessCommandInput = {
      command_id: commandId,
      command_type: cmd.command_type,
      actor: cmd.actor,
      submitted_at: submittedAt,
      storage_mode: this.o.storageMode,
      request_hash: requestHash,
      ...(cmd.expected_version !== undefined ? { expected_version: cmd.expected_version } : {}),
    };
    if (Buffer.byteLength(json) > this.inlineLimit) {
      // Keyed by the request hash: a resubmission with another body can never overwrite the first one's.
      const ref = this.o.blobs.bodyOf(commandId, requestHash.slice(0, 16));
      await this.o.blobs.putJson(ref, command);
      input.command_ref = ref;
    } else {
      input.command = command;
    }

    const stream = streamOf(command);
    const memo: CommandMemo = { request_hash: requestHash, submitted_at: submittedAt, command_type: cmd.command_type, nonce: randomUUID() };
    const workflowId = workflowIdOf(commandId);
    try {
      const handle = await this.o.client.workflow.start(WORKFLOW_TYPE, {
        taskQueue: this.o.taskQueue,
        workflowId,
        args: [input],
        // A running run with this id is joined, a closed one is never started again.
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        ...(this.o.eagerStart ? { requestEagerStart: true } : {}),
        memo: memo as unknown as Record<string, unknown>,
        typedSearchAttributes: [
          { key: SearchAttributes.CommandType, value: cmd.command_type },
          { key: SearchAttributes.AggregateType, value: stream.aggregate_type },
          { key: SearchAttributes.AggregateId, value: stream.aggregate_id.slice(0, 1000) },
          { key: SearchAttributes.DatabaseName, value: cmd.db_name ?? (cmd.payload as { name?: string }).name ?? '' },
          { key: SearchAttributes.StorageMode, value: this.o.storageMode },
        ],
      });
      if (!cmd.idempotency_key) return { command_id: commandId, created: true };
      const existing = (await handle.describe()).memo as unknown as CommandMemo;
      if (existing.nonce === memo.nonce) return { command_id: commandId, created: true };
      return this.resubmission(commandId, existing, requestHash);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const existing = (await this.o.client.workflow.getHandle(workflowId).describe()).memo as unknown as CommandMemo;
      return this.resubmission(commandId, existing, requestHash);
    }
  }

  private resubmission(commandId: string, existing: CommandMemo, requestHash: string): SubmitOutcome {
    if (existing.request_hash !== requestHash) throw new IdempotencyKeyReusedError(commandId);
    return { command_id: commandId, created: false };
  }

  async status(commandId: string): Promise<CommandStatusView | null> {
    const handle = this.o.client.workflow.getHandle(workflowIdOf(commandId));
    let desc;
    try {
      desc = await handle.describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
    const memo = (desc.memo ?? {}) as unknown as Partial<CommandMemo>;
    const view: CommandStatusView = {
      command_id: commandId,
      command_type: memo.command_type ?? 'UNKNOWN',
      status: 'PENDING',
      submitted_at: memo.submitted_at,
      started_at: desc.startTime.toISOString(),
      closed_at: desc.closeTime?.toISOString(),
      events: [],
    };

    switch (desc.status.name) {
      case 'RUNNING': {
        const pending = desc.raw.pendingActivities ?? [];
        const retrying = pending.find((a) => (a.attempt ?? 1) > 1);
        view.progress = await this.progress(handle.query.bind(handle));
        view.status = retrying ? 'RETRYING' : view.progress && view.progress.phase !== 'PENDING' ? 'PROCESSING' : 'PENDING';
        if (retrying) {
          view.retry = {
            activity: retrying.activityType?.name ?? 'unknown',
            attempt: retrying.attempt ?? 0,
            ...(retrying.lastFailure?.applicationFailureInfo?.type ? { code: retrying.lastFailure.applicationFailureInfo.type } : {}),
            last_failure: retrying.lastFailure?.message ?? undefined,
          };
        }
        view.events = await this.deliveries(view.progress?.events ?? []);
        break;
      }
      case 'COMPLETED': {
        const result = (await handle.result()) as ProcessCommandResult;
        view.status = 'COMPLETED';
        view.result = result;
        view.events = await this.deliveries(result.events);
        break;
      }
      default: {
        view.status = 'FAILED';
        view.error = await this.failureOf(handle.result.bind(handle));
      }
    }
    return view;
  }

  async wait(commandId: string, timeoutMs: number): Promise<CommandStatusView | null> {
    const handle = this.o.client.workflow.getHandle(workflowIdOf(commandId));
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      handle.result().then(
        (result) => ({ done: true as const, result: result as ProcessCommandResult }),
        () => ({ done: false as const }),
      ),
      new Promise<{ done: false }>((r) => (timer = setTimeout(() => r({ done: false }), timeoutMs))),
    ]);
    clearTimeout(timer);
    // A completed command is answered from the result in hand: no second describe and result call.
    if (outcome.done) {
      const result = outcome.result;
      return { command_id: commandId, command_type: result.command_type, status: 'COMPLETED', result, events: await this.deliveries(result.events) };
    }
    return this.status(commandId);
  }

  private async progress(query: (q: typeof progressQuery) => Promise<CommandProgress>): Promise<CommandProgress | undefined> {
    // A query needs a worker; with none running, the status still answers from the server's view.
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([query(progressQuery), new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 2000)))]);
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  private async deliveries(events: ProcessCommandResult['events']): Promise<EventDelivery[]> {
    if (events.length === 0) return [];
    const rows = new Map((await this.o.ledger.byEventIds(events.map((e) => e.event_id))).map((r) => [r.eventId, r]));
    return events.map((e) => {
      const row = rows.get(e.event_id);
      return {
        ...e,
        delivery: row
          ? {
              status: row.status,
              attempts: row.attempts,
              ...(row.kafkaPartition !== null ? { kafka_partition: row.kafkaPartition } : {}),
              ...(row.kafkaOffset !== null ? { kafka_offset: row.kafkaOffset } : {}),
              ...(row.deliveredAt ? { delivered_at: row.deliveredAt.toISOString() } : {}),
              ...(row.lastError ? { last_error: row.lastError } : {}),
            }
          : { status: 'unknown', attempts: 0 },
      };
    });
  }

  private async failureOf(result: () => Promise<unknown>): Promise<CommandStatusView['error']> {
    try {
      await result();
      return undefined;
    } catch (err) {
      const cause = err instanceof WorkflowFailedError ? err.cause : err;
      if (cause instanceof ApplicationFailure) {
        const data = cause.details?.[0];
        if (isDomainErrorData(data) || (data && typeof data === 'object' && 'code' in data)) {
          const d = data as { code: string; message: string; details?: { path: string; message: string }[] };
          return { code: d.code, message: d.message, details: d.details ?? [] };
        }
        return { code: cause.type ?? 'COMMAND_FAILED', message: cause.message, details: [] };
      }
      if (cause instanceof TerminatedFailure) return { code: 'TERMINATED', message: cause.message, details: [] };
      if (cause instanceof TimeoutFailure) return { code: 'TIMED_OUT', message: cause.message, details: [] };
      if (cause instanceof CancelledFailure) return { code: 'CANCELLED', message: cause.message, details: [] };
      return { code: 'COMMAND_FAILED', message: (cause as Error)?.message ?? String(cause), details: [] };
    }
  }
}

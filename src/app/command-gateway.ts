/**
 * The API's door to Temporal: starts one processCommand run per command id (a resubmission meets
 * the first run, never a second one), and reads a command's status back from its run and the ledger.
 */
import { currentTraceId } from './tracing';
import { commandSummary, commandTarget } from '../contracts/summaries';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import type { StorageMode } from '../contracts/storage-mode';
import { requestHasher, requestHashOf } from '../contracts/request-hash';
import type { S3Reference } from '../contracts/event-envelope';
import type { CommandBlobStore } from '../adapters/s3/command-blobs';
import { nameBasedUuid } from '../lib/name-based-uuid';
import { CommandInput, FIRST_INCARNATION, streamOf } from '../domain';
import type { LedgerRow } from '../ports/ledger';
import type { CommandBodySeal } from '../ports/personal-data';
import { CommandProgress, ProcessCommandInput, ProcessCommandResult, SearchAttributes, progressQuery, workflowIdOf } from '../contracts/workflows';
import { processCommand } from '../workflows/process-command';
import { rawTextOf, SAFE_DELIVERY_ERROR, safeFailureOf, safeRetryOf } from '../api/failure-view';
import { FAILURE_DETAIL, isStreamedItems, type StreamedItems, type CommandGateway, type CommandStatusView, type EventDelivery, type SubmitCommand, type SubmitOutcome } from '../ports/command-gateway';

const PROGRESS_QUERY_TIMEOUT_MS = 2000;
const UNTOUCHED_HISTORY_LENGTH = 2;
/** temporal.api.enums.v1.HistoryEventFilterType.CLOSE_EVENT: the poll answers only when the run closes. */
const HISTORY_CLOSE_EVENT_ONLY = 2;

export class IdempotencyKeyReusedError extends Error {
  readonly code = 'IDEMPOTENCY_KEY_REUSED';
  constructor(readonly commandId: string) {
    super('this Idempotency-Key was already used with a different request');
  }
}

export interface GatewayOptions {
  client: Client;
  taskQueue: string;
  /** The storage mode a command submitted now runs in (captured in its input; live, see StorageModeCache). */
  storageMode: StorageMode | (() => Promise<StorageMode>);
  blobs: Pick<CommandBlobStore, 'bodyOf' | 'putJson' | 'openUpload'>;
  /** Seals a body kept in S3 under its command's own key (its personal values are not sealed yet). */
  bodies: Pick<CommandBodySeal, 'seal' | 'itemSealer' | 'forget'>;
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
  trace_id?: string;
}

/** A stable command id per Idempotency-Key: the same key always names the same command. */
export function commandIdForKey(key: string): string {
  const id = nameBasedUuid(`spice-oms:idempotency:${key}`);
  // Ids issued before the shared helper fixed the variant digit at 'a': kept, so a key keeps its command.
  return `${id.slice(0, 19)}a${id.slice(20)}`;
}

export class TemporalCommandGateway implements CommandGateway {
  private readonly inlineLimit: number;

  constructor(private readonly o: GatewayOptions) {
    this.inlineLimit = o.inlineLimitBytes ?? 128 * 1024;
  }

  async submit(cmd: SubmitCommand): Promise<SubmitOutcome> {
    const commandId = cmd.idempotency_key ? commandIdForKey(cmd.idempotency_key) : randomUUID();
    const streamed = isStreamedItems(cmd.payload) ? await this.storeStreamed(commandId, cmd, cmd.payload) : undefined;
    if (streamed?.resubmitted) return streamed.resubmitted;
    // A streamed bulk is named by its class and count: its items are in S3 only.
    const command = {
      command_type: cmd.command_type,
      ...(cmd.db_name !== undefined ? { db_name: cmd.db_name } : {}),
      ...(cmd.command_type === 'BULK_CREATE_INSTANCES' ? { batch_id: commandId } : {}),
      payload: streamed ? { class_id: streamed.class_id } : cmd.payload,
    } as CommandInput;
    const json = streamed ? undefined : JSON.stringify(command);
    const requestHash = streamed?.request_hash ?? requestHashOf(json!, cmd.expected_version);
    const submittedAt = new Date().toISOString();
    const storageMode = typeof this.o.storageMode === 'function' ? await this.o.storageMode() : this.o.storageMode;
    const input: ProcessCommandInput = {
      command_id: commandId,
      command_type: cmd.command_type,
      actor: cmd.actor,
      submitted_at: submittedAt,
      storage_mode: storageMode,
      request_hash: requestHash,
      ...(cmd.expected_version !== undefined ? { expected_version: cmd.expected_version } : {}),
    };
    if (streamed) {
      input.command_ref = streamed.ref;
    } else if (Buffer.byteLength(json!) > this.inlineLimit) {
      // Keyed by the request hash: a resubmission with another body can never overwrite the first one's.
      const ref = this.o.blobs.bodyOf(commandId, requestHash.slice(0, 16));
      await this.o.blobs.putJson(ref, await this.o.bodies.seal(commandId, command));
      input.command_ref = ref;
    } else {
      input.command = command;
    }

    // The API does not load the database, so it cannot know which life the command will meet: the
    // search attribute names the aggregate by its first-life id (database name and local id).
    const stream = streamOf(command, FIRST_INCARNATION);
    const traceId = currentTraceId();
    const memo: CommandMemo = { request_hash: requestHash, submitted_at: submittedAt, command_type: cmd.command_type, nonce: randomUUID(), ...(traceId ? { trace_id: traceId } : {}) };
    const target = commandTarget(command, streamed?.count);
    const workflowId = workflowIdOf(commandId);
    try {
      const handle = await this.o.client.workflow.start(processCommand, {
        taskQueue: this.o.taskQueue,
        workflowId,
        args: [input],
        // A running run with this id is joined, a closed one is never started again.
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        ...(this.o.eagerStart ? { requestEagerStart: true } : {}),
        memo: memo as unknown as Record<string, unknown>,
        // What the Temporal Web UI shows: the list a one-line summary, the run page the details.
        staticSummary: commandSummary(cmd.command_type, target),
        staticDetails: [
          `**${cmd.command_type}** \`${target}\``,
          '',
          `- command: \`${commandId}\``,
          `- aggregate: \`${stream.aggregate_type}/${stream.aggregate_id.slice(0, 200)}\``,
          `- actor: \`${cmd.actor}\``,
          `- storage mode: \`${storageMode}\``,
          `- submitted: ${submittedAt}`,
          ...(traceId ? [`- trace: \`${traceId}\``] : []),
        ].join('\n'),
        typedSearchAttributes: [
          { key: SearchAttributes.CommandType, value: cmd.command_type },
          { key: SearchAttributes.AggregateType, value: stream.aggregate_type },
          { key: SearchAttributes.AggregateId, value: stream.aggregate_id.slice(0, 1000) },
          { key: SearchAttributes.DatabaseName, value: cmd.db_name ?? (cmd.payload as { name?: string }).name ?? '' },
          { key: SearchAttributes.StorageMode, value: storageMode },
        ],
      });
      if (!cmd.idempotency_key) return { command_id: commandId, created: true };
      const existing = (await handle.describe()).memo as unknown as CommandMemo;
      if (existing.nonce === memo.nonce) return { command_id: commandId, created: true };
      return this.resubmission(commandId, existing, requestHash);
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      const described = await this.o.client.workflow.getHandle(workflowId).describe();
      // The command ended before this resubmission stored its body again: no run will read that copy
      // (the id is never run again), so its key, made anew by the seal, goes at once.
      if (input.command_ref !== undefined) await this.o.bodies.forget(commandId);
      return this.resubmission(commandId, described.memo as unknown as CommandMemo, requestHash);
    }
  }

  /**
   * Writes the command's JSON to S3 as its items are read and validated, each item sealed; the request
   * hash is taken over the plain command as JSON.stringify writes it whole (the one the same bulk would
   * get unstreamed). A bad item aborts the upload: nothing is readable at the key and no run is started.
   */
  private async storeStreamed(
    commandId: string,
    cmd: SubmitCommand,
    items: StreamedItems,
  ): Promise<{ ref: S3Reference; request_hash: string; class_id: string; count: number; resubmitted?: SubmitOutcome }> {
    // The request hash is known only once the body is read: a nonce keeps a resubmission with another body off the first one's key.
    const ref = this.o.blobs.bodyOf(commandId, randomBytes(8).toString('hex'));
    const sealItem = await this.o.bodies.itemSealer(commandId);
    const upload = this.o.blobs.openUpload(ref);
    // The hash is the plain command's (a resubmission compares requests); S3 gets each item sealed.
    const hasher = requestHasher();
    const write = (piece: string, stored = piece) => {
      hasher.update(piece);
      return upload.write(stored);
    };
    try {
      const head = { command_type: cmd.command_type, ...(cmd.db_name !== undefined ? { db_name: cmd.db_name } : {}), batch_id: commandId };
      await write(`${JSON.stringify(head).slice(0, -1)},"payload":{"class_id":${JSON.stringify(items.class_id)},"instances":[`);
      let index = 0;
      const count = await items.writeItems((item) => {
        const comma = index === 0 ? '' : ',';
        const sealed = JSON.stringify(sealItem(index++, item));
        return write(`${comma}${item}`, `${comma}${sealed}`);
      });
      await write(']}}');
      const requestHash = hasher.digest(cmd.expected_version);
      // Under a key already used the body is not kept: the API may not delete what it stored, and a body
      // completed for a resubmission (or for a refused reuse of the key) would stay in S3 with no run to read it.
      const existing = cmd.idempotency_key ? await this.runOf(commandId) : undefined;
      if (existing) {
        await upload.abort();
        // A run that has ended forgot its body's key; the seal above made a new one, which nothing will read.
        if (!existing.running) await this.o.bodies.forget(commandId);
        return { ref, request_hash: requestHash, class_id: items.class_id, count, resubmitted: this.resubmission(commandId, existing.memo, requestHash) };
      }
      await upload.complete();
      return { ref, request_hash: requestHash, class_id: items.class_id, count };
    } catch (err) {
      await upload.abort();
      throw err;
    }
  }

  /** The command's run, when one was started under its id. */
  private async runOf(commandId: string): Promise<{ memo: CommandMemo; running: boolean } | undefined> {
    try {
      const d = await this.o.client.workflow.getHandle(workflowIdOf(commandId)).describe();
      return { memo: d.memo as unknown as CommandMemo, running: d.status.name === 'RUNNING' };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
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
    const db = desc.typedSearchAttributes.get(SearchAttributes.DatabaseName);
    const view: CommandStatusView = {
      command_id: commandId,
      command_type: memo.command_type ?? 'UNKNOWN',
      status: 'PENDING',
      ...(db ? { db_name: db } : {}),
      submitted_at: memo.submitted_at,
      ...(memo.trace_id ? { trace_id: memo.trace_id } : {}),
      started_at: desc.startTime.toISOString(),
      closed_at: desc.closeTime?.toISOString(),
      events: [],
    };
    // What dependencies said, for the log only: the view itself carries codes and our own words.
    const detail: Record<string, string> = {};

    switch (desc.status.name) {
      case 'RUNNING': {
        const pending = desc.raw.pendingActivities ?? [];
        const retrying = pending.find((a) => (a.attempt ?? 1) > 1);
        // Only a worker answers a query; until one has taken the run's first task (started and
        // scheduled are its first two events) the query could only wait out its deadline.
        view.progress = desc.historyLength > UNTOUCHED_HISTORY_LENGTH ? await this.progress(handle) : undefined;
        view.status = retrying ? 'RETRYING' : view.progress && view.progress.phase !== 'PENDING' ? 'PROCESSING' : 'PENDING';
        if (retrying) {
          view.retry = safeRetryOf(retrying.activityType?.name ?? 'unknown', retrying.attempt ?? 0, retrying.lastFailure?.applicationFailureInfo?.type, {
            since: await this.firstScheduled(handle, retrying.activityId),
            next_attempt_at: isoOf(retrying.nextAttemptScheduleTime),
          });
          if (retrying.lastFailure?.message) detail.last_failure = retrying.lastFailure.message;
        }
        view.events = await this.deliveries(view.progress?.events ?? [], detail);
        break;
      }
      case 'COMPLETED': {
        const result = (await handle.result()) as ProcessCommandResult;
        view.status = 'COMPLETED';
        view.result = result;
        view.events = await this.deliveries(result.events, detail);
        break;
      }
      default: {
        view.status = 'FAILED';
        view.error = await this.failureOf(handle.result.bind(handle), detail);
      }
    }
    if (Object.keys(detail).length > 0) view[FAILURE_DETAIL] = detail;
    return view;
  }

  /**
   * When the activity's first attempt was scheduled. The pending activity's own scheduled time is
   * its current attempt's; the history's ActivityTaskScheduled event is the step's start. Read only
   * for a run that is retrying, newest events last, so the scan stops at the first match from the end.
   */
  private async firstScheduled(handle: WorkflowHandle, activityId: string | null | undefined): Promise<string | undefined> {
    if (!activityId) return undefined;
    try {
      const events = (await handle.fetchHistory()).events ?? [];
      for (let i = events.length - 1; i >= 0; i--) {
        const e = events[i];
        if (e.activityTaskScheduledEventAttributes?.activityId === activityId) return isoOf(e.eventTime);
      }
    } catch {
      // The status stays useful without it.
    }
    return undefined;
  }

  async isClosed(commandId: string): Promise<boolean> {
    try {
      return (await this.o.client.workflow.getHandle(workflowIdOf(commandId)).describe()).status.name !== 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return true;
      throw err;
    }
  }

  async wait(commandId: string, timeoutMs: number, signal?: AbortSignal): Promise<CommandStatusView | null> {
    const workflowId = workflowIdOf(commandId);
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    // A signal aborted before the wait began fires no event (a request that reached its wait after SIGTERM).
    if (signal?.aborted) stop.abort();
    const timer = setTimeout(onAbort, timeoutMs);
    let closed: temporal.api.history.v1.IHistoryEvent | undefined;
    try {
      closed = await this.closed(workflowId, stop.signal, Date.now() + timeoutMs);
    } catch {
      // Stopped, or the run is gone: the status below tells which.
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      stop.abort();
    }
    if (signal?.aborted) return null;
    const completed = closed?.workflowExecutionCompletedEventAttributes;
    if (completed) {
      // The close event the wait ended on carries the result: no second call to the server.
      const result = await decodeFromPayloadsAtIndex<ProcessCommandResult>(this.o.client.options.loadedDataConverter, 0, completed.result?.payloads);
      return { command_id: commandId, command_type: result.command_type, status: 'COMPLETED', result, events: await this.deliveries(result.events) };
    }
    // Failed, terminated or timed out (the status carries the code), or still running.
    return this.status(commandId);
  }

  /**
   * Long-polls the run's history until it closes (its close event) or `signal` aborts (undefined). This is the
   * loop of handle.result(), which cannot be stopped: raced against a timer it went on polling for
   * as long as the command stayed open, one poll per timed-out wait. Here the abort cancels the
   * call in flight, and the check before each call keeps a poll from starting after it.
   * The embedded worker's NativeConnection ignores abort signals (SDK 1.24): there the call runs on
   * to `deadline` at most, and the race answers the abort at once instead of at the server's
   * long-poll expiry (20 s), which outlived SHUTDOWN_GRACE_MS.
   */
  private async closed(workflowId: string, signal: AbortSignal, deadline: number): Promise<temporal.api.history.v1.IHistoryEvent | undefined> {
    const { client } = this.o;
    let nextPageToken: Uint8Array | undefined;
    while (!signal.aborted) {
      const call = client.withDeadline(deadline, () =>
        client.withAbortSignal(signal, () =>
          client.workflowService.getWorkflowExecutionHistory({
            namespace: client.options.namespace,
            execution: { workflowId },
            waitNewEvent: true,
            skipArchival: true,
            historyEventFilterType: HISTORY_CLOSE_EVENT_ONLY,
            nextPageToken,
          }),
        ),
      );
      const res = await untilAborted(call, signal);
      const close = res.history?.events?.[0];
      if (close) return close;
      nextPageToken = res.nextPageToken ?? undefined;
    }
    return undefined;
  }

  private async progress(handle: WorkflowHandle): Promise<CommandProgress | undefined> {
    // A query needs a worker; with none running, the status still answers from the server's view.
    // A deadline rather than a timer race: the query call itself ends, it is not left pending.
    try {
      return await this.o.client.withDeadline(Date.now() + PROGRESS_QUERY_TIMEOUT_MS, () => handle.query(progressQuery));
    } catch {
      return undefined;
    }
  }

  private async deliveries(events: ProcessCommandResult['events'], detail?: Record<string, string>): Promise<EventDelivery[]> {
    if (events.length === 0) return [];
    const rows = new Map((await this.o.ledger.byEventIds(events.map((e) => e.event_id))).map((r) => [r.eventId, r]));
    return events.map((e) => {
      const row = rows.get(e.event_id);
      if (row?.lastError && detail) detail[`delivery_error:${e.event_id}`] = row.lastError;
      return {
        ...e,
        delivery: row
          ? {
              status: row.status,
              attempts: row.attempts,
              ...(row.kafkaPartition !== null ? { kafka_partition: row.kafkaPartition } : {}),
              ...(row.kafkaOffset !== null ? { kafka_offset: row.kafkaOffset } : {}),
              ...(row.deliveredAt ? { delivered_at: row.deliveredAt.toISOString() } : {}),
              ...(row.lastError ? { last_error: SAFE_DELIVERY_ERROR } : {}),
            }
          : { status: 'unknown', attempts: 0 },
      };
    });
  }

  private async failureOf(result: () => Promise<unknown>, detail: Record<string, string>): Promise<CommandStatusView['error']> {
    try {
      await result();
      return undefined;
    } catch (err) {
      const cause = err instanceof WorkflowFailedError ? err.cause : err;
      detail.error = rawTextOf(cause);
      return safeFailureOf(cause);
    }
  }
}

/** `work`'s outcome, or a rejection as soon as `signal` aborts (what `work` does later is dropped). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A protobuf timestamp as ISO 8601. */
function isoOf(t: { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined): string | undefined {
  if (!t || t.seconds === undefined || t.seconds === null) return undefined;
  const seconds = typeof t.seconds === 'number' ? t.seconds : t.seconds.toNumber();
  return new Date(seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}

/**
 * The activities of processCommand, built over injected adapters so tests and benchmarks can pass
 * their own (createActivities(deps)). Business rules stay in src/domain; this file loads state,
 * calls decide, and moves events between the stores.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { StorageMode } from '../config';
import {
  Command,
  DecideContext,
  DomainErrorData,
  aggregateStateFrom,
  contextNeeds,
  databaseAggregateId,
  databaseOf,
  evolve,
  decide,
  incarnationFor,
  instanceStateFromBatch,
  splitAggregateId,
  streamOf,
} from '../domain';
import type { AggregateState, DatabaseState } from '../domain';
import { EventEnvelope, S3Reference, StoredEvent, envelopeOf } from '../adapters/event-envelope';
import {
  CommandAppendedError,
  CommandMark,
  CommandRecord,
  CommandReusedError,
  EventStore,
  ExpectedVersion,
  StreamId,
  VersionConflictError,
} from '../adapters/event-store';
import { ReadModelError } from '../adapters/read-model-errors';
import type { AppendedEventRef, ProcessCommandInput } from '../workflows/definitions';
import type { ActivityDeps } from './deps';
import { EventCache } from './event-cache';
import { StreamStateCache } from './state-cache';
import { StreamLocks } from './stream-locks';
import { FailureData, toActivityFailure, withFailureMapping } from './failures';

export type { ActivityDeps } from './deps';

export interface AppendOutcome {
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  events: AppendedEventRef[];
}

export interface BulkPlan {
  aggregate_type: string;
  aggregate_id: string;
  start_version: number;
  batches_total: number;
  instances_total: number;
  plan_ref: S3Reference;
  /** The request the plan was made for: a later run of the command id with another body is refused. */
  request_hash?: string;
}

/** Without an expected version from the client, a lost race is re-read and re-decided this often. */
const MAX_CONFLICT_RETRIES = 100;

export function createActivities(deps: ActivityDeps) {
  const cache = new EventCache(deps.cacheSize ?? 2000);
  const states = new StreamStateCache(deps.cacheSize ?? 2000);
  const locks = new StreamLocks();
  const now = deps.clock ?? (() => new Date());
  const storeFor = (mode: StorageMode): EventStore => deps.eventStores[mode];

  async function loadCommand(input: ProcessCommandInput): Promise<Command> {
    const raw = input.command ?? (input.command_ref ? await deps.blobs.getJson(input.command_ref) : undefined);
    if (raw === undefined) throw refusal({ code: 'INVALID_COMMAND', message: 'the command has no body', status: 400, details: [] });
    return raw as Command;
  }

  /** The aggregate's state: its own stream, seeded from its bulk batch when an instance was created in bulk. */
  async function loadStream(mode: StorageMode, stream: StreamId): Promise<AggregateState> {
    const store = storeFor(mode);
    const key = `${mode}\u0000${stream.aggregate_type}\u0000${stream.aggregate_id}`;
    const cached = states.get(key);
    let state: AggregateState;
    if (cached) {
      const tail = await store.readStream(stream, { fromVersion: cached.version + 1 });
      state = tail.reduce((st, e) => evolve(st, e.envelope), cached);
    } else {
      const envelopes = (await store.readStream(stream)).map((e) => e.envelope);
      state = aggregateStateFrom(envelopes, stream.aggregate_type as 'instance', (await bulkSeed(store, stream, envelopes)) as never);
    }
    states.set(key, state);
    return state;
  }

  function remember(mode: StorageMode, stream: StreamId, before: AggregateState, appended: EventEnvelope[]): void {
    const key = `${mode}\u0000${stream.aggregate_type}\u0000${stream.aggregate_id}`;
    states.set(key, appended.reduce((st, e) => evolve(st, e), before));
  }

  /**
   * A command's events stored by an earlier attempt or an earlier run of the same command id,
   * found through the store's command marker (exact, however many commands came since).
   */
  async function storedOutcome(store: EventStore, mark: CommandMark): Promise<AppendOutcome | undefined> {
    const record = await store.findCommand(mark.command_id);
    if (!record) return undefined;
    if (record.request_hash !== mark.request_hash) throw keyReused(mark.command_id);
    return outcomeOf(record);
  }

  /** A refusal may only be the state after this very command, stored by an earlier attempt: then that is the answer. */
  async function refusedUnlessStored(store: EventStore, mark: CommandMark, failure: ApplicationFailure): Promise<AppendOutcome> {
    const stored = await storedOutcome(store, mark);
    if (stored) return stored;
    throw failure;
  }

  async function outcomeOf(record: CommandRecord): Promise<AppendOutcome> {
    const refs = await recordAndRemember(record.events.map((e) => e.envelope), record.events.map((e) => ({ event_id: e.envelope.event_id, version: e.envelope.aggregate_version, s3: e.s3 })));
    return { ...record.stream, version: refs[refs.length - 1].version, events: refs };
  }

  /**
   * The command's database first: its current life (incarnation) names the command's stream, so a
   * re-created database never meets the streams of a deleted life. Undefined for database commands.
   */
  async function locate(mode: StorageMode, command: Command): Promise<{ stream: StreamId; database?: DatabaseState }> {
    const db = databaseOf(command);
    if (db === undefined) return { stream: streamOf(command, incarnationFor(undefined)) as StreamId };
    const database = (await loadStream(mode, { aggregate_type: 'database', aggregate_id: databaseAggregateId(db) })) as DatabaseState;
    return { stream: streamOf(command, incarnationFor(database)) as StreamId, database };
  }

  /** Instances created in bulk have no creation event on their own stream: their batch holds it. */
  async function bulkSeed(store: EventStore, stream: StreamId, envelopes: EventEnvelope[]): Promise<AggregateState | undefined> {
    if (stream.aggregate_type !== 'instance' || envelopes.some((e) => e.event_type === 'INSTANCE_CREATED')) return undefined;
    const { db, id, incarnation } = splitAggregateId(stream.aggregate_id);
    const origin = await deps.context.bulkOrigin(db, id);
    // Read models that lag behind a re-creation may still point into a deleted life: not this stream's.
    if (!origin || splitAggregateId(origin.aggregate_id).incarnation !== incarnation) return undefined;
    const [batch] = await store.readStream({ aggregate_type: 'instance_batch', aggregate_id: origin.aggregate_id }, { fromVersion: origin.version, toVersion: origin.version });
    return batch ? instanceStateFromBatch(batch.envelope, id) : undefined;
  }

  async function loadContext(command: Command, database: DatabaseState | undefined): Promise<DecideContext> {
    const needs = contextNeeds(command);
    const ctx: DecideContext = database !== undefined ? { database } : {};
    const db = needs.database;
    const fromReadModels = needs.classes || needs.instanceIds.length > 0 || needs.instanceCountOf !== undefined;
    await Promise.all([
      fromReadModels && db !== undefined && database?.status === 'active' ? requireReadModelsAt(db, database) : undefined,
      needs.classes && db !== undefined ? deps.context.classCatalog(db).then((c) => (ctx.classes = c)) : undefined,
      needs.instanceIds.length && db !== undefined ? deps.context.instanceRefs(db, needs.instanceIds).then((t) => (ctx.targets = t)) : undefined,
      needs.instanceCountOf && db !== undefined ? deps.context.countInstances(db, needs.instanceCountOf).then((n) => (ctx.instanceCount = n)) : undefined,
    ]);
    return ctx;
  }

  /**
   * Classes, targets and counts come from the read models, which hold one life of the database: a
   * command of a life they have not reached yet (the deletion or re-creation still being projected)
   * waits for them, rather than deciding against the deleted life's classes and instances.
   */
  async function requireReadModelsAt(db: string, database: DatabaseState): Promise<void> {
    const projected = await deps.context.databaseState(db);
    const incarnation = incarnationFor(database);
    if (projected.status === 'active' && (projected.incarnation ?? 0) >= incarnation) return;
    throw new ReadModelError('READ_MODELS_BEHIND', `the read models of database '${db}' have not reached its life ${incarnation} yet`, {
      database: db,
      incarnation,
      projected_incarnation: projected.incarnation ?? null,
      projected_status: projected.status,
    });
  }

  function envelopes(input: ProcessCommandInput, drafts: { event_type: string; aggregate_type: string; aggregate_id: string; payload: unknown }[], firstVersion: number, occurredAt: string, positionOffset = 0): EventEnvelope[] {
    return drafts.map((d, i) =>
      envelopeOf(d, {
        commandId: input.command_id,
        position: positionOffset + i,
        version: firstVersion + i,
        occurredAt,
        actor: input.actor,
        storageMode: input.storage_mode,
      }),
    );
  }

  async function recordAndRemember(stored: EventEnvelope[], refs: { event_id: string; version: number; s3?: S3Reference }[]): Promise<AppendedEventRef[]> {
    const withRefs = stored.map((e, i) => ({ envelope: { ...e, aggregate_version: refs[i].version }, s3: refs[i].s3 }));
    await deps.ledger.record(withRefs.map((e) => ({ envelope: e.envelope, s3: e.s3 ?? null })));
    for (const e of withRefs) cache.put(e.envelope);
    return withRefs.map((e) => refOf(e.envelope, e.s3));
  }

  const activities = {
    /**
     * Loads the aggregate and its context, decides, appends with optimistic concurrency and
     * records the ledger rows. A retry after a crash finds the command's events already in the
     * stream and returns them instead of deciding again.
     */
    async decideAndAppend(input: ProcessCommandInput): Promise<AppendOutcome> {
      const command = await loadCommand(input);
      const store = storeFor(input.storage_mode);
      const { stream, database } = await locate(input.storage_mode, command);
      const mark = commandMarkOf(input, command);
      return locks.run(`${input.storage_mode}\u0000${stream.aggregate_type}\u0000${stream.aggregate_id}`, async () => {
        for (let attempt = 0; ; attempt++) {
          const state = await loadStream(input.storage_mode, stream);
          const refuse = (failure: ApplicationFailure) => refusedUnlessStored(store, mark, failure);
          if (input.expected_version !== undefined && input.expected_version !== state.version) {
            return refuse(versionConflict(input.expected_version, state.version));
          }
          const decision = decide(command, state, await loadContext(command, database));
          if (!decision.ok) return refuse(refusal(decision.error));

          const drafts = envelopes(input, decision.events, state.version + 1, now().toISOString());
          const expected: ExpectedVersion = state.version === 0 ? 'no_stream' : state.version;
          try {
            const appended = await store.append(stream, expected, drafts, { command: mark });
            remember(input.storage_mode, stream, state, drafts);
            const refs = await recordAndRemember(drafts, appended.events);
            return { ...stream, version: appended.nextExpectedVersion, events: refs };
          } catch (err) {
            if (err instanceof CommandAppendedError) return outcomeOf(err.record);
            if (err instanceof CommandReusedError) throw keyReused(mark.command_id);
            if (!(err instanceof VersionConflictError)) throw toActivityFailure(err);
            if (input.expected_version !== undefined) return refuse(versionConflict(input.expected_version, err.actual));
            if (attempt >= MAX_CONFLICT_RETRIES) throw err; // retryable: Temporal backs off and tries again
            const ctx = Context.current();
            if (!ctx.info.isLocal) ctx.heartbeat({ conflicts: attempt + 1 });
            await sleep(Math.random() * Math.min(200, 5 * 2 ** Math.min(attempt, 6)));
          }
        }
      });
    },

    /** Validates a bulk command as a whole and stores its batches in S3, ready to be appended one by one. */
    async prepareBulk(input: ProcessCommandInput): Promise<BulkPlan> {
      const command = await loadCommand(input);
      const { stream, database } = await locate(input.storage_mode, command);
      const state = await loadStream(input.storage_mode, stream);
      const existing = deps.blobs.planOf(input.command_id);
      const stored = await deps.blobs.getJsonIfExists<BulkPlan>(existing);
      const { request_hash } = commandMarkOf(input, command);
      if (stored) {
        // A retry after the plan was written, or a later run of the same command id (Temporal's retention).
        if (stored.request_hash !== undefined && stored.request_hash !== request_hash) throw keyReused(input.command_id);
        return stored;
      }

      const decision = decide(command, state, await loadContext(command, database), { batchSize: deps.bulkBatchSize });
      if (!decision.ok) throw refusal(decision.error);
      const decidedAt = now().toISOString();
      const batches = decision.events;
      await deps.blobs.putMany(
        batches.map((draft, i) => ({ ref: deps.blobs.batchOf(input.command_id, i), body: { decided_at: decidedAt, draft } })),
      );
      const plan: BulkPlan = {
        ...stream,
        start_version: state.version,
        batches_total: batches.length,
        instances_total: batches.reduce((n, b) => n + ((b.payload as { instances?: unknown[] }).instances?.length ?? 0), 0),
        plan_ref: existing,
        request_hash,
      };
      await deps.blobs.putJson(existing, plan);
      return plan;
    },

    /** Appends one batch of a bulk command at its fixed version and records it. Idempotent: same ids, same content. */
    async appendBulkBatch(a: { input: ProcessCommandInput; batch: number; plan_ref: S3Reference }): Promise<AppendOutcome> {
      const plan = await deps.blobs.getJson<BulkPlan>(a.plan_ref);
      const body = await deps.blobs.getJson<{ decided_at: string; draft: EventEnvelope }>(deps.blobs.batchOf(a.input.command_id, a.batch));
      const version = plan.start_version + a.batch + 1;
      // The same occurred_at on every attempt makes a retried append an exact repeat, which the store accepts as a no-op.
      const [event] = envelopes(a.input, [body.draft], version, body.decided_at, a.batch);
      const store = storeFor(a.input.storage_mode);
      const stream = { aggregate_type: plan.aggregate_type, aggregate_id: plan.aggregate_id };
      let appended;
      try {
        appended = await store.append(stream, version - 1, [event]);
      } catch (err) {
        if (!(err instanceof VersionConflictError)) throw toActivityFailure(err);
        const [existing] = await store.readStream(stream, { fromVersion: version, toVersion: version });
        if (existing?.envelope.event_id !== event.event_id) throw err;
        appended = { events: [{ event_id: event.event_id, version, s3: existing.s3 }], nextExpectedVersion: version };
      }
      const refs = await recordAndRemember([event], appended.events);
      return { ...stream, version, events: refs };
    },

    /**
     * The whole of a single command in one call: decide and append, then deliver and project side by
     * side. The workflow's fast path runs it as one local activity (one workflow activation instead
     * of one per step); every part is idempotent, so the durable steps can take over after a failure.
     */
    async runCommand(input: ProcessCommandInput): Promise<AppendOutcome> {
      const appended = await activities.decideAndAppend(input);
      await Promise.all([activities.deliver(appended.events.map((e) => e.event_id)), activities.project(appended.events)]);
      return appended;
    },

    /**
     * Publishes to Kafka in stream order, undelivered predecessors first; marks the ledger rows
     * delivered once Kafka acknowledged them.
     */
    async deliver(eventIds: string[]): Promise<void> {
      await deps.relay.publishThrough(eventIds);
    },

    /** Applies the events to the read models (idempotent by stream version). */
    async project(refs: AppendedEventRef[]): Promise<void> {
      const events = await loadEvents(refs);
      await deps.projector.apply(events);
    },
  };
  return withFailureMapping(activities);

  async function loadEvents(refs: AppendedEventRef[]): Promise<EventEnvelope[]> {
    const out: EventEnvelope[] = [];
    const missing: AppendedEventRef[] = [];
    for (const r of refs) {
      const hit = cache.get(r.event_id);
      if (hit) out.push(hit);
      else missing.push(r);
    }
    if (missing.length) {
      // Another worker appended them: read them back from their source of truth.
      const loaded = await Promise.all(
        missing.map(async (r) => {
          if (r.s3) return deps.s3Events.readEvent(r.s3).then((e) => e.envelope);
          const [e] = await deps.eventStores.legacy.readStream({ aggregate_type: r.aggregate_type, aggregate_id: r.aggregate_id }, { fromVersion: r.version, toVersion: r.version });
          if (!e) throw new Error(`event ${r.event_id} not found at ${r.aggregate_type}/${r.aggregate_id} v${r.version}`);
          return e.envelope;
        }),
      );
      out.push(...loaded);
    }
    // The projector applies in stream order.
    return out.sort((a, b) => (a.aggregate_id === b.aggregate_id ? a.aggregate_version - b.aggregate_version : 0));
  }
}

export type Activities = ReturnType<typeof createActivities>;

function refOf(e: EventEnvelope, s3?: S3Reference): AppendedEventRef {
  return { event_id: e.event_id, event_type: e.event_type, aggregate_type: e.aggregate_type, aggregate_id: e.aggregate_id, version: e.aggregate_version, ...(s3 ? { s3 } : {}) };
}

function refusal(error: DomainErrorData): ApplicationFailure {
  return ApplicationFailure.create({ type: error.code, message: error.message, details: [error], nonRetryable: true });
}

/** The command id's first request stored something else (an Idempotency-Key reused with another body). */
function keyReused(commandId: string): ApplicationFailure {
  const data: FailureData = { code: 'IDEMPOTENCY_KEY_REUSED', message: `command ${commandId} was already run with a different request`, details: [] };
  return ApplicationFailure.create({ type: data.code, message: data.message, details: [data], nonRetryable: true });
}

/** What the store records with the command's events; the API's request hash when it sent one. */
function commandMarkOf(input: ProcessCommandInput, command: Command): CommandMark {
  const request_hash =
    input.request_hash ?? createHash('sha256').update(JSON.stringify(command)).update(`|${input.expected_version ?? ''}`).digest('hex');
  return { command_id: input.command_id, request_hash };
}

function versionConflict(expected: number, actual: number): ApplicationFailure {
  return refusal({
    code: 'VERSION_CONFLICT' as DomainErrorData['code'],
    message: `expected version ${expected}, current version is ${actual}`,
    status: 409,
    details: [{ path: 'expected_version', message: `current version is ${actual}` }],
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The activities of processCommand, built over injected adapters so tests and benchmarks can pass
 * their own (createActivities(deps)). Business rules stay in src/domain; this file loads state,
 * calls decide, and moves events between the stores.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { StorageMode } from '../contracts/storage-mode';
import {
  Command,
  DecideContext,
  DomainErrorData,
  DomainEventOf,
  domainError,
  aggregateStateFrom,
  contextNeeds,
  currentSchemaVersion,
  databaseAggregateId,
  databaseOf,
  evolve,
  decide,
  incarnationFor,
  instanceStateFromBatch,
  instanceAggregateId,
  splitAggregateId,
  streamOf,
  subjectOf,
} from '../domain';
import type { AggregateState, ClassCatalog, DatabaseState, DomainEvent, InstanceState } from '../domain';
import { EventEnvelope, S3Reference, claimIdFor, envelopeOf, eventIdFor, streamKey } from '../contracts/event-envelope';
import { requestHashOf } from '../contracts/request-hash';
import { mapLimit } from '../lib/map-limit';
import { collectSteps, timedStep, type StepTiming } from '../lib/step-timings';
import { crashPoint } from '../lib/crash-points';
import {
  CLAIM_PENDING,
  CLAIM_VOIDED,
  claimedBy,
  CommandAppendedError,
  CommandMark,
  CommandRecord,
  CommandReusedError,
  EventStore,
  ExpectedVersion,
  StreamId,
  VersionConflictError,
} from '../ports/event-store';
import { ReadModelError } from '../ports/read-model-errors';
import type { AppendedEventRef, ProcessCommandInput } from '../contracts/workflows';
import type { LedgerInput } from '../ports/ledger';
import type { SnapshotStore } from '../ports/snapshots';
import type { ActivityDeps } from './deps';
import { EventCache } from './event-cache';
import { StreamStateCache, type CachedStream } from './state-cache';
import { GroupCommit, type Settled } from '../lib/group-commit';
import { spiceMetrics } from '../contracts/metrics';
import { FailureData, toActivityFailure, withFailureMapping } from './failures';

export type { ActivityDeps } from './deps';

export interface AppendOutcome {
  aggregate_type: string;
  aggregate_id: string;
  version: number;
  events: AppendedEventRef[];
}

export interface ForgetSubjectInput {
  db_name: string;
  instance_id: string;
  storage_mode: StorageMode;
}

export interface ForgottenSubject {
  subject: string;
  incarnation: number;
  /** False when the subject had no key (nothing personal stored, or forgotten before). */
  key_deleted: boolean;
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

/** The aggregate's state as decide() needs it; see loadStream. */
interface LoadedStream {
  /** With personal values opened (what decide sees). */
  state: AggregateState;
  /** The version of the stream's newest snapshot known (see CachedStream). */
  snapshotAt: number;
  /** As folded from the stored events, values sealed (what the caches keep). */
  stored: AggregateState;
  pendingClaim?: string;
  /**
   * The claims the stream ends with, oldest first (bulk claims, or versions a command took to get
   * past a dead attempt's marker): the next event's predecessors, recorded with it.
   */
  claimsBefore: EventEnvelope[];
}

type BulkBatchDraft = DomainEventOf<'INSTANCES_BULK_CREATED'>;

/** Parallel claim writes of one bulk command. */
const CLAIM_CONCURRENCY = 64;
/** How many versions before a recovered event are read at a time looking for the claims it follows. */
const CLAIM_LOOKBACK = 16;
/** Claim ledger rows per statement. */
const CLAIM_ROWS_PER_RECORD = 1000;
/** The decision record of a command voided by another one: no request of its own to name. */
const VOIDED_BY_ANOTHER = { request_hash: '', stream: { aggregate_type: 'instance_batch', aggregate_id: '' } };
/** How long a command waits for an older command's undecided claim before voiding it. */
const CLAIM_PATIENCE_MS = 30_000;
/** When a command first met each holder of an undecided claim in its way. */
type ClaimWaits = Map<string, number>;

/** An instance created by a batch lives in the batch stream's database (and its life): same scope before the ':'. */
function instanceStreamOf(batchStream: StreamId, instanceId: string): string {
  return `${batchStream.aggregate_id.slice(0, batchStream.aggregate_id.indexOf(':'))}:${instanceId}`;
}

/** A command waiting for its stream's turn (see appendTurn). */
interface Turn {
  input: ProcessCommandInput;
  command: Command;
  store: EventStore;
  stream: StreamId;
  database?: DatabaseState;
  mark: CommandMark;
}

async function settle<R>(fn: () => Promise<R>): Promise<Settled<R>> {
  try {
    return { ok: true, value: await fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Without an expected version from the client, a lost race is re-read and re-decided this often. */
const MAX_CONFLICT_RETRIES = 100;

export function createActivities(deps: ActivityDeps) {
  const cache = new EventCache(deps.cacheSize ?? 2000);
  const states = new StreamStateCache(deps.cacheSize ?? 2000);
  // Commands on one stream that reach this worker take turns instead of racing on conditional PUTs
  // that lose; the commands that wait while a turn is in flight take the next one together (group
  // commit). Writers on other workers still meet at the stream lock and the conditional write.
  const turns = new GroupCommit<Turn, AppendOutcome>((_key, batch) => appendTurn(batch));
  const now = deps.clock ?? (() => new Date());
  const storeFor = (mode: StorageMode): EventStore => deps.eventStores[mode];
  const stateKey = (mode: StorageMode, stream: StreamId) => `${mode}\u0000${streamKey(stream.aggregate_type, stream.aggregate_id)}`;

  const openBody = (commandId: string, stored: unknown) => (deps.personalData ? deps.personalData.bodies.open(commandId, stored) : stored);

  async function loadCommand(input: ProcessCommandInput): Promise<Command> {
    const raw = input.command ?? (input.command_ref ? await openBody(input.command_id, await deps.blobs.getJson(input.command_ref)) : undefined);
    if (raw === undefined) throw refusal({ code: 'INVALID_COMMAND', message: 'the command has no body (or its body was forgotten when an earlier run ended)', status: 400, details: [] });
    return raw as Command;
  }

  /**
   * The aggregate's state: its own stream, seeded from its bulk batch when an instance was created
   * in bulk before claims existed. `pendingClaim`: the command whose undecided claim is the
   * stream's last entry (the state is not known until that command decides).
   */
  async function loadStream(mode: StorageMode, stream: StreamId): Promise<LoadedStream> {
    const store = storeFor(mode);
    const key = stateKey(mode, stream);
    const cached = states.get(key) ?? (await fromSnapshot(mode, stream));
    let entry: CachedStream;
    let read: EventEnvelope[];
    if (cached) {
      read = (await store.readStream(stream, { fromVersion: cached.state.version + 1 })).map((e) => e.envelope);
      entry = { state: read.reduce((st, e) => evolve(st, e), cached.state), as_of: read[read.length - 1]?.occurred_at ?? cached.as_of, snapshotAt: cached.snapshotAt };
    } else {
      read = (await store.readStream(stream)).map((e) => e.envelope);
      const seed = await bulkSeed(store, stream, read);
      // A state seeded from a batch is not what its events alone fold to (time travel folds those): never snapshotted.
      entry = { state: aggregateStateFrom(read, stream.aggregate_type as 'instance', seed as never), as_of: read[read.length - 1]?.occurred_at ?? null, snapshotAt: seed ? Infinity : 0 };
    }
    let trailing = read.length;
    while (trailing > 0 && claimedBy(read[trailing - 1]) !== undefined) trailing--;
    const claimsBefore = read.slice(trailing);
    const claim = claimsBefore[claimsBefore.length - 1];
    const pendingClaim = claim?.event_type === CLAIM_PENDING ? claimedBy(claim) : undefined;
    // A pending claim changes meaning when its command decides, and the next event after a claim
    // records the claim's ledger row (see recordAndRemember): such states are never cached, nor snapshotted.
    if (claim) states.delete(key);
    else {
      states.set(key, entry);
      snapshotIfDue(mode, stream, entry);
    }
    return { state: await opened(entry.state, stream), stored: entry.state, snapshotAt: entry.snapshotAt, pendingClaim, claimsBefore };
  }

  /**
   * The state with its personal values opened, for decide. Caches and snapshots keep states sealed,
   * so a subject forgotten meanwhile is erased here at once, on every worker.
   */
  async function opened(state: AggregateState, stream: StreamId): Promise<AggregateState> {
    return deps.personalData === undefined ? state : deps.personalData.cipher.openState(state, stream.aggregate_id);
  }

  /** decide()'s events with their personal values sealed: what every store, the ledger and Kafka get. */
  async function sealed<E extends DomainEvent>(events: E[], context: DecideContext): Promise<E[]> {
    const classes: ClassCatalog = context.classes ?? {};
    return deps.personalData === undefined ? events : deps.personalData.cipher.seal(events, classes);
  }

  /** Folds from the state as loaded (`stored`), never the opened one: caches hold personal values sealed. */
  function remember(mode: StorageMode, stream: StreamId, before: LoadedStream, appended: EventEnvelope[]): void {
    const entry = { state: appended.reduce((st, e) => evolve(st, e), before.stored), as_of: appended[appended.length - 1]?.occurred_at ?? null, snapshotAt: before.snapshotAt };
    states.set(stateKey(mode, stream), entry);
    snapshotIfDue(mode, stream, entry);
  }

  /** Snapshots hold what the S3 store's streams fold to; the legacy store's streams are its own and get none. */
  function snapshotsFor(mode: StorageMode): SnapshotStore | undefined {
    return mode !== 'legacy' && (deps.snapshotEvery ?? 0) > 0 ? deps.snapshots : undefined;
  }

  /** The newest snapshot as a cache entry; a cache that cannot be read is no reason to fail a command. */
  async function fromSnapshot(mode: StorageMode, stream: StreamId): Promise<CachedStream | undefined> {
    const snap = await snapshotsFor(mode)
      ?.latest(stream)
      .catch(() => undefined);
    return snap && { state: snap.state, as_of: snap.as_of, snapshotAt: snap.state.version };
  }

  /** Writes a snapshot once the stream has grown snapshotEvery events past its last one; the command never waits for it. */
  function snapshotIfDue(mode: StorageMode, stream: StreamId, entry: CachedStream): void {
    const snapshots = snapshotsFor(mode);
    if (snapshots === undefined || entry.state.version - entry.snapshotAt < (deps.snapshotEvery ?? 0)) return;
    entry.snapshotAt = entry.state.version;
    const log = activityLog();
    snapshots
      .put(stream, { state: entry.state, as_of: entry.as_of })
      .catch((err) => log?.warn('snapshot not written', { stream: streamKey(stream.aggregate_type, stream.aggregate_id), version: entry.state.version, error: String(err) }));
  }

  /**
   * A command's events stored by an earlier attempt or an earlier run of the same command id,
   * found through the store's command marker (exact, however many commands came since).
   */
  async function storedOutcome(store: EventStore, mark: CommandMark): Promise<AppendOutcome | undefined> {
    const record = await store.findCommand(mark.command_id);
    if (!record) return undefined;
    if (record.request_hash !== mark.request_hash) throw keyReused(mark.command_id);
    return outcomeOf(store, record);
  }

  /** A refusal may only be the state after this very command, stored by an earlier attempt: then that is the answer. */
  async function refusedUnlessStored(store: EventStore, mark: CommandMark, failure: ApplicationFailure): Promise<AppendOutcome> {
    const stored = await storedOutcome(store, mark);
    if (stored) return stored;
    throw failure;
  }

  async function outcomeOf(store: EventStore, record: CommandRecord): Promise<AppendOutcome> {
    const first = record.events[0].envelope.aggregate_version;
    const refs = await recordAndRemember(
      record.events.map((e) => e.envelope),
      record.events.map((e) => ({ event_id: e.envelope.event_id, version: e.envelope.aggregate_version, s3: e.s3 })),
      await claimsEndingAt(store, record.stream, first - 1),
    );
    return { ...record.stream, version: refs[refs.length - 1].version, events: refs };
  }

  /**
   * The claims (bulk claims, or versions voided to get past a dead attempt's marker) a stream holds
   * right up to `version`, oldest first. The attempt that stored the event after them may have died
   * before its ledger rows: recorded again from here, their rows keep the stream's versions contiguous
   * for the relay, whose next event otherwise waits for its predecessor for good.
   */
  async function claimsEndingAt(store: EventStore, stream: StreamId, version: number): Promise<EventEnvelope[]> {
    const claims: EventEnvelope[] = [];
    // Mostly the version before is an event: one read says so. Claims are read back a window at a time.
    for (let to = version, window = 1; to >= 1; to -= window, window = CLAIM_LOOKBACK) {
      const entries = (await store.readStream(stream, { fromVersion: Math.max(1, to - window + 1), toVersion: to })).map((e) => e.envelope);
      for (let i = entries.length - 1; i >= 0; i--) {
        if (claimedBy(entries[i]) === undefined) return claims;
        claims.unshift(entries[i]);
      }
      if (entries.length === 0) return claims;
    }
    return claims;
  }

  /**
   * The command's database first: its current life (incarnation) names the command's stream, so a
   * re-created database never meets the streams of a deleted life. Undefined for database commands.
   */
  async function locate(mode: StorageMode, command: Command): Promise<{ stream: StreamId; database?: DatabaseState }> {
    const db = databaseOf(command);
    if (db === undefined) return { stream: streamOf(command, incarnationFor(undefined)) as StreamId };
    const database = (await loadStream(mode, { aggregate_type: 'database', aggregate_id: databaseAggregateId(db) })).state as DatabaseState;
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

  /**
   * Claims every instance of the bulk on its own stream; returns the batches with their claims.
   * Refuses with INSTANCE_EXISTS (after voiding its own claims) when any instance is live.
   */
  async function claimInstances(
    store: EventStore,
    input: ProcessCommandInput,
    request_hash: string,
    batchStream: StreamId,
    startVersion: number,
    batches: BulkBatchDraft[],
    decidedAt: string,
  ): Promise<BulkBatchDraft[]> {
    const items = batches.flatMap((b, batch) => b.payload.instances.map((instance) => ({ batch, instance })));
    const claimWait: ClaimWaits = new Map();
    // Every claim won gets its ledger row, whatever the decision (a voided claim still holds a
    // version): recorded in chunks while the claims go on, not in one statement after them.
    const claimed: LedgerInput[] = [];
    let recorded: Promise<unknown> = Promise.resolve();
    const flush = () => {
      const rows = claimed.splice(0);
      if (rows.length === 0) return;
      const next = recorded.then(() => deps.ledger.record(rows));
      next.catch(() => undefined); // awaited after the claims: not an unhandled rejection meanwhile
      recorded = next;
    };
    let done = 0;
    const versions = await mapLimit(items, CLAIM_CONCURRENCY, async ({ batch, instance }) => {
      const entry: EventEnvelope = {
        event_id: claimIdFor(input.command_id, instanceStreamOf(batchStream, instance.id)),
        event_type: 'INSTANCE_CREATED',
        aggregate_type: 'instance',
        aggregate_id: instanceStreamOf(batchStream, instance.id),
        aggregate_version: 0,
        occurred_at: decidedAt,
        actor: input.actor,
        command_id: input.command_id,
        schema_version: currentSchemaVersion('INSTANCE_CREATED'),
        payload: { db_name: batches[batch].payload.db_name, instance },
        metadata: {
          storage_mode: input.storage_mode,
          claimed_by: input.command_id,
          created_in: { ...batchStream, version: startVersion + batch + 1, event_id: eventIdFor(input.command_id, batch) },
        },
      };
      const version = await claimOne(store, entry, claimWait);
      // The row only holds the version for the relay's order check: the instance data stays in S3.
      if (version !== undefined) claimed.push({ envelope: { ...entry, aggregate_version: version, payload: {} }, s3: null, claim: true });
      if (claimed.length >= CLAIM_ROWS_PER_RECORD) flush();
      if (++done % 500 === 0) heartbeat({ claims: done });
      return version;
    });
    flush();
    await recorded;
    const lost = items.flatMap((it, i) => (versions[i] === undefined ? [{ path: `instances[${i}].id`, message: `instance '${it.instance.id}' already exists` }] : []));
    if (lost.length > 0) {
      await store.decideClaims(input.command_id, 'void', { request_hash, stream: batchStream });
      throw refusal(domainError('INSTANCE_EXISTS', `${lost.length} instance id(s) already exist`, lost));
    }
    let next = 0;
    return batches.map((b) => ({
      ...b,
      payload: { ...b.payload, claims: b.payload.instances.map((instance) => ({ aggregate_id: instanceStreamOf(batchStream, instance.id), version: versions[next++] as number })) },
    }));
  }

  /**
   * Takes the next version of the entry's stream for the claim; undefined when the instance is
   * live. Finds its own claim of an earlier attempt; waits for an undecided claim of another command
   * (or voids it, see awaitClaimDecision).
   */
  async function claimOne(store: EventStore, entry: EventEnvelope, claimWait: ClaimWaits): Promise<number | undefined> {
    const stream = { aggregate_type: entry.aggregate_type, aggregate_id: entry.aggregate_id };
    const me = entry.command_id;
    for (let version = 1; ;) {
      if ((await store.claim({ ...entry, aggregate_version: version })) === 'claimed') return version;
      const envelopes = (await store.readStream(stream)).map((e) => e.envelope);
      const mine = envelopes.find((e) => claimedBy(e) === me);
      // Voided: another command voided this one's claims (see awaitClaimDecision), it has lost.
      if (mine) return mine.event_type === CLAIM_VOIDED ? undefined : mine.aggregate_version;
      const last = envelopes[envelopes.length - 1];
      if (last?.event_type === CLAIM_PENDING) {
        await awaitClaimDecision(store, claimedBy(last)!, me, claimWait);
        continue;
      }
      const state = aggregateStateFrom(envelopes, 'instance', (await bulkSeed(store, stream, envelopes)) as never);
      if (state.status === 'active') return undefined;
      version = state.version + 1;
    }
  }

  /**
   * Another command's undecided claim stands in the way. Wound-wait, so two bulks that share ids
   * can never wait for each other: the older command id voids the younger one's claims, the younger
   * waits for the older (and voids it too after CLAIM_PATIENCE_MS, in case its run died). The
   * patience counts from when this command first met the holder: a bulk that has been claiming
   * longer than that must not void a live older command at once.
   */
  async function awaitClaimDecision(store: EventStore, holder: string, me: string, claimWait: ClaimWaits): Promise<void> {
    const since = claimWait.get(holder) ?? Date.now();
    claimWait.set(holder, since);
    if (holder < me && Date.now() - since < (deps.claimPatienceMs ?? CLAIM_PATIENCE_MS)) {
      heartbeat({ waiting_for: holder });
      await sleep(20 + Math.random() * 80);
      return;
    }
    await store.decideClaims(holder, 'void', VOIDED_BY_ANOTHER);
  }

  /** Commits the bulk's claims (write-once); refused when another command voided them first. */
  async function commitClaims(store: EventStore, commandId: string, request_hash: string, plan: BulkPlan): Promise<void> {
    const stream = { aggregate_type: plan.aggregate_type, aggregate_id: plan.aggregate_id };
    if ((await store.decideClaims(commandId, 'commit', { request_hash, stream })) === 'void') {
      throw refusal(domainError('INSTANCE_EXISTS', 'another command created some of these instances first'));
    }
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

  function envelopes(
    input: ProcessCommandInput,
    drafts: { event_type: string; aggregate_type: string; aggregate_id: string; payload: unknown }[],
    firstVersion: number,
    occurredAt: string,
    positionOffset = 0,
  ): EventEnvelope[] {
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

  /**
   * Records the events in the ledger. `claimsBefore`: the claims the first event follows, recorded
   * too (a no-op when its bulk command recorded it), so the relay finds the predecessor even when
   * that bulk never got to it.
   */
  async function recordAndRemember(stored: EventEnvelope[], refs: { event_id: string; version: number; s3?: S3Reference }[], claimsBefore: EventEnvelope[] = []): Promise<AppendedEventRef[]> {
    const withRefs = stored.map((e, i) => ({ envelope: { ...e, aggregate_version: refs[i].version }, s3: refs[i].s3 }));
    const lastClaim = claimsBefore[claimsBefore.length - 1];
    const claimRows: LedgerInput[] = lastClaim && lastClaim.aggregate_version === withRefs[0]?.envelope.aggregate_version - 1 ? claimsBefore.map((c) => ({ envelope: c, s3: null, claim: true })) : [];
    await deps.ledger.record([...claimRows, ...withRefs.map((e) => ({ envelope: e.envelope, s3: e.s3 ?? null }))]);
    for (const e of withRefs) cache.put(e.envelope);
    return withRefs.map((e) => refOf(e.envelope, e.s3));
  }

  /**
   * One turn of a stream: the commands that waited for it decided one after another on the folded
   * state and appended in one commit, each with its own events, marker and outcome. Anything the
   * group cannot settle (a pending claim, a store without group append, a lost race) goes through
   * the one-command path, command by command, which finds through the markers what is stored.
   */
  async function appendTurn(batch: Turn[]): Promise<Settled<AppendOutcome>[]> {
    const grouped = batch.length > 1 && batch[0].store.appendCommands !== undefined ? await appendGroup(batch) : [];
    const out: Settled<AppendOutcome>[] = [];
    for (const [i, turn] of batch.entries()) out.push(grouped[i] ?? (await settle(() => appendOne(turn))));
    return out;
  }

  async function appendGroup(batch: Turn[]): Promise<Array<Settled<AppendOutcome> | undefined>> {
    const { store, stream, input: first } = batch[0];
    const mode = first.storage_mode;
    const out: Array<Settled<AppendOutcome> | undefined> = batch.map(() => undefined);
    // Classes, targets and counts come from the read models, not from this stream: loaded side by side.
    const [loaded, contexts] = await Promise.all([loadStream(mode, stream), Promise.allSettled(batch.map((t) => loadContext(t.command, t.database)))]);
    if (loaded.pendingClaim) return out;
    const decidedAt = now().toISOString();
    const decided: Array<{ i: number; drafts: EventEnvelope[] }> = [];
    let state = loaded.state;
    for (const [i, turn] of batch.entries()) {
      const context = contexts[i];
      const refuse = (failure: ApplicationFailure) => settle(() => refusedUnlessStored(store, turn.mark, failure));
      if (context.status === 'rejected') out[i] = { ok: false, error: context.reason };
      else if (turn.input.expected_version !== undefined && turn.input.expected_version !== state.version) out[i] = await refuse(versionConflict(turn.input.expected_version, state.version));
      else {
        const decision = decide(turn.command, state, context.value);
        if (!decision.ok) out[i] = await refuse(refusal(decision.error));
        else if (decision.events.length > 0) {
          const from = state.version + 1;
          decided.push({ i, drafts: envelopes(turn.input, await sealed(decision.events, context.value), from, decidedAt) });
          // The next command decides on this one's events as decide() made them (personal values open); the stores get them sealed.
          state = envelopes(turn.input, decision.events, from, decidedAt).reduce((st, e) => evolve(st, e), state);
        }
      }
    }
    if (decided.length === 0) return out;
    let appended;
    try {
      appended = await store.appendCommands!(
        stream,
        loaded.state.version,
        decided.map((d) => ({ command: batch[d.i].mark, events: d.drafts })),
      );
    } catch {
      return out; // the undecided rest goes one by one
    }
    const drafts = decided.flatMap((d) => d.drafts);
    const recorded = await settle(async () => {
      crashPoint('after-s3-commit', [stream.aggregate_id]);
      remember(mode, stream, loaded, drafts);
      const refs = await recordAndRemember(drafts, appended.events, loaded.claimsBefore);
      crashPoint('after-ledger-record', [stream.aggregate_id]);
      cache.putGroup(refs.map((r) => r.event_id));
      return refs;
    });
    spiceMetrics().streamCommitCommands.observe(decided.length);
    let at = 0;
    for (const d of decided) {
      const n = d.drafts.length;
      out[d.i] = recorded.ok ? { ok: true, value: { ...stream, version: recorded.value[at + n - 1].version, events: recorded.value.slice(at, at + n) } } : recorded;
      at += n;
    }
    return out;
  }

  /** One command alone in its turn: decided, appended and recorded, re-decided after a lost race. */
  async function appendOne(turn: Turn): Promise<AppendOutcome> {
    const { input, command, store, stream, database, mark } = turn;
    const claimWait: ClaimWaits = new Map();
    for (let attempt = 0; ; attempt++) {
      const loaded = await loadStream(input.storage_mode, stream);
      const { state, pendingClaim, claimsBefore } = loaded;
      if (pendingClaim) {
        await awaitClaimDecision(store, pendingClaim, input.command_id, claimWait);
        continue;
      }
      const refuse = (failure: ApplicationFailure) => refusedUnlessStored(store, mark, failure);
      if (input.expected_version !== undefined && input.expected_version !== state.version) {
        return refuse(versionConflict(input.expected_version, state.version));
      }
      const context = await loadContext(command, database);
      const decision = decide(command, state, context);
      if (!decision.ok) return refuse(refusal(decision.error));

      const drafts = envelopes(input, await sealed(decision.events, context), state.version + 1, now().toISOString());
      const expected: ExpectedVersion = state.version === 0 ? 'no_stream' : state.version;
      try {
        const appended = await store.append(stream, expected, drafts, { command: mark });
        crashPoint('after-s3-commit', [stream.aggregate_id]);
        remember(input.storage_mode, stream, loaded, drafts);
        const refs = await recordAndRemember(drafts, appended.events, claimsBefore);
        crashPoint('after-ledger-record', [stream.aggregate_id]);
        if (drafts.length > 0) spiceMetrics().streamCommitCommands.observe(1);
        return { ...stream, version: appended.nextExpectedVersion, events: refs };
      } catch (err) {
        if (err instanceof CommandAppendedError) return outcomeOf(store, err.record);
        if (err instanceof CommandReusedError) throw keyReused(mark.command_id);
        if (!(err instanceof VersionConflictError)) throw toActivityFailure(err);
        if (input.expected_version !== undefined) return refuse(versionConflict(input.expected_version, err.actual));
        if (attempt >= MAX_CONFLICT_RETRIES) throw err; // retryable: Temporal backs off and tries again
        heartbeat({ conflicts: attempt + 1 });
        await sleep(Math.random() * Math.min(200, 5 * 2 ** Math.min(attempt, 6)));
      }
    }
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
      // The durable step runs after the fast path failed, often after that one appended: ask the store first.
      if (likelyRetry()) {
        const stored = await storedOutcome(store, mark);
        if (stored) return stored;
      }
      return turns.submit(stateKey(input.storage_mode, stream), { input, command, store, stream, database, mark });
    },

    /**
     * Validates a bulk command as a whole, claims every instance's next version on the instance's
     * own stream (the event store decides who creates an id), and stores the batches in S3, ready
     * to be appended one by one. All or nothing: one claim lost voids the others.
     */
    async prepareBulk(input: ProcessCommandInput): Promise<BulkPlan> {
      const command = await loadCommand(input);
      const { stream, database } = await locate(input.storage_mode, command);
      const store = storeFor(input.storage_mode);
      const existing = deps.blobs.planOf(input.command_id);
      const stored = await deps.blobs.getJsonIfExists<BulkPlan>(existing);
      const { request_hash } = commandMarkOf(input, command);
      if (stored) {
        // A retry after the plan was written, or a later run of the same command id (Temporal's retention).
        if (stored.request_hash !== undefined && stored.request_hash !== request_hash) throw keyReused(input.command_id);
        await commitClaims(store, input.command_id, request_hash, stored);
        return stored;
      }
      const { state } = await loadStream(input.storage_mode, stream);

      const context = await loadContext(command, database);
      const decision = decide(command, state, context, { batchSize: deps.bulkBatchSize });
      if (!decision.ok) {
        // An earlier attempt may have claimed before the context changed (its class deleted since): those claims must not stand.
        if (repeatAttempt()) await store.decideClaims(input.command_id, 'void', { request_hash, stream });
        throw refusal(decision.error);
      }
      const decidedAt = now().toISOString();
      const batches = await claimInstances(store, input, request_hash, stream, state.version, await sealed(decision.events as BulkBatchDraft[], context), decidedAt);
      await deps.blobs.putMany(batches.map((draft, i) => ({ ref: deps.blobs.batchOf(input.command_id, i), body: { decided_at: decidedAt, draft } })));
      // The plan first, then the decision: a committed bulk always has a plan to append, so a retry never decides it again.
      const plan: BulkPlan = {
        ...stream,
        start_version: state.version,
        batches_total: batches.length,
        instances_total: batches.reduce((n, b) => n + b.payload.instances.length, 0),
        plan_ref: existing,
        request_hash,
      };
      await deps.blobs.putJson(existing, plan);
      await commitClaims(store, input.command_id, request_hash, plan);
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
      crashPoint('after-s3-commit', [stream.aggregate_id]);
      const refs = await recordAndRemember([event], appended.events);
      crashPoint('after-ledger-record', [stream.aggregate_id]);
      return { ...stream, version, events: refs };
    },

    /**
     * The whole of a single command in one call: decide and append, then deliver and project side by
     * side. The workflow's fast path runs it as one local activity (one workflow activation instead
     * of one per step); every part is idempotent, so the durable steps can take over after a failure.
     */
    async runCommand(input: ProcessCommandInput): Promise<AppendOutcome> {
      const appended = await timedStep('decide_and_append', () => activities.decideAndAppend(input), {
        did: (a) => `${a.events.length} event(s) on ${a.aggregate_type}/${a.aggregate_id}, now at version ${a.version}`,
      });
      const n = appended.events.length;
      await Promise.all([
        timedStep('deliver', () => activities.deliver(appended.events.map((e) => e.event_id)), { did: () => `published ${n} event(s) to Kafka` }),
        timedStep('project', () => activities.project(appended.events), { did: () => `projected ${n} event(s) into the read models` }),
      ]);
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
      const own = await loadEvents(refs);
      const ids = new Set(own.map((e) => e.event_id));
      const before = refs.flatMap((r) => cache.before(r.event_id)).filter((e) => !ids.has(e.event_id) && ids.add(e.event_id));
      await deps.projector.apply(before.length ? inStreamOrder([...before, ...own]) : own);
    },

    /** A command whose body waited in S3 has ended: the body's key goes, and with it every way to read the body. */
    async forgetCommandBody(commandId: string): Promise<void> {
      await deps.personalData?.bodies.forget(commandId);
    },

    /** FORGET_SUBJECT, step 1: the subject's data key is deleted; from then on its values read as erased everywhere. */
    async forgetSubjectKey(a: ForgetSubjectInput): Promise<ForgottenSubject> {
      const pd = personalData();
      const database = (await loadStream(a.storage_mode, { aggregate_type: 'database', aggregate_id: databaseAggregateId(a.db_name) })).state as DatabaseState;
      const incarnation = incarnationFor(database);
      const subject = subjectOf(a.db_name, incarnation, a.instance_id);
      return { subject, incarnation, key_deleted: await pd.keys.forget(subject) };
    },

    /** Step 2 (idempotent): the read models and the search index show the instance as its events now read, erased. */
    async purgeSubject(a: ForgetSubjectInput & { incarnation: number }): Promise<{ read_model: boolean; search: boolean }> {
      const pd = personalData();
      const { state } = await loadStream(a.storage_mode, { aggregate_type: 'instance', aggregate_id: instanceAggregateId(a.db_name, a.instance_id, a.incarnation) });
      const instance = (state as InstanceState).instance;
      if (instance === undefined) return { read_model: false, search: false };
      return pd.purge.purgeInstance({ db: a.db_name, incarnation: a.incarnation, instance_id: a.instance_id, properties: instance.properties });
    },
  };

  function personalData(): NonNullable<ActivityDeps['personalData']> {
    if (deps.personalData === undefined) throw new Error('this worker has no personal-data key store');
    return deps.personalData;
  }
  return withFailureMapping(withStepReports(activities));

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
      const loaded = await Promise.all(missing.map((r) => deps.appendedEvents.read(r)));
      out.push(...loaded);
    }
    return inStreamOrder(out);
  }
}

/** The projector applies each stream's events in version order. */
function inStreamOrder(events: EventEnvelope[]): EventEnvelope[] {
  return events.sort((a, b) => (a.aggregate_id === b.aggregate_id ? a.aggregate_version - b.aggregate_version : 0));
}

export type Activities = ReturnType<typeof createActivities>;

/** What an activity's steps did and how long they took, in its result (the Web UI shows it on the run's page). */
export interface StepReport {
  steps: StepTiming[];
}

type Reported<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => Promise<(R extends object ? R : unknown) & StepReport> : T[K] };

/** Each activity's result gains its steps; the activities' calls to one another (runCommand's) are timed as steps of the caller. */
function withStepReports<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): Reported<T> {
  const reported: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    reported[name] = async (...args: never[]) => {
      const { result, steps } = await collectSteps(() => fn(...args));
      return { ...(result as object), steps };
    };
  }
  return reported as Reported<T>;
}

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
  const request_hash = input.request_hash ?? requestHashOf(JSON.stringify(command), input.expected_version);
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

/** Liveness for activities that take long (bulk claims); local activities and direct calls have none. */
function heartbeat(details: unknown): void {
  try {
    const ctx = Context.current();
    if (!ctx.info.isLocal) ctx.heartbeat(details);
  } catch {
    // outside an activity
  }
}

/** The running activity's logger (undefined outside an activity), kept for work that outlives the call. */
function activityLog(): ReturnType<typeof Context.current>['log'] | undefined {
  try {
    return Context.current().log;
  } catch {
    return undefined;
  }
}

/** Not the activity's first attempt: an earlier one may have written before it failed. */
function repeatAttempt(): boolean {
  try {
    return Context.current().info.attempt > 1;
  } catch {
    return false;
  }
}

/** A durable or repeated attempt (outside an activity, e.g. a direct call from a script: no). */
function likelyRetry(): boolean {
  try {
    const { isLocal, attempt } = Context.current().info;
    return !isLocal || attempt > 1;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

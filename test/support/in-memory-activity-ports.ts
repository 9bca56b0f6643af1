/**
 * In-memory implementations of the ports the activities are built over, for workflow and activity
 * tests that must run without the stack. The event store keeps the port's contract (it runs in
 * test/int/event-store-contract.int.test.ts next to the real stores, so it cannot drift from
 * them); the others record what they were given. Tests script failures by replacing a method
 * (jest.spyOn) rather than through options here.
 */
import { AppendedEventReader } from '../../src/adapters/appended-events';
import type { ActivityDeps } from '../../src/activities/deps';
import type { BlobStore } from '../../src/ports/blobs';
import type { DecisionContext } from '../../src/ports/decision-context';
import type { EventEnvelope, S3Reference, StoredEvent } from '../../src/contracts/event-envelope';
import {
  AppendOptions,
  AppendResult,
  ClaimDecision,
  claimedBy,
  CommandRecord,
  commandStoredError,
  EventIdReusedError,
  EventNotFoundError,
  EventStore,
  ExpectedVersion,
  InvalidEventError,
  ReadAllOptions,
  ReadAllResult,
  ReadStreamOptions,
  resolveClaim,
  StreamId,
  VersionConflictError,
} from '../../src/ports/event-store';
import type { LedgerInput } from '../../src/ports/ledger';
import type { ClassCatalog, ClassDefinition, DatabaseState, InstanceRef, TargetCatalog } from '../../src/domain';

const BUCKET = 'in-memory';
const streamKey = (s: StreamId) => `${s.aggregate_type}\u0000${s.aggregate_id}`;
const copy = <T>(v: T): T => structuredClone(v);

interface Marker {
  request_hash: string;
  stream: StreamId;
  first_version: number;
  count: number;
  /** Set for commands that claim (bulk): their write-once decision. */
  decision?: ClaimDecision;
}

/** The event store port over plain maps: one process, no I/O, the same answers as S3 and PostgreSQL. */
export class InMemoryEventStore implements EventStore {
  private readonly streams = new Map<string, EventEnvelope[]>();
  private readonly byId = new Map<string, EventEnvelope>();
  private readonly markers = new Map<string, Marker>();
  /** Every event but claims, in append order: what readAll pages through. */
  private readonly log: EventEnvelope[] = [];

  async append(stream: StreamId, expectedVersion: ExpectedVersion, events: EventEnvelope[], options: AppendOptions = {}): Promise<AppendResult> {
    validate(stream, expectedVersion, events);
    const current = this.version(stream);
    if (events.length === 0) {
      checkExpected(stream, expectedVersion, current);
      return { events: [], nextExpectedVersion: current };
    }
    const command = options.command;
    if (command) {
      const record = await this.findCommand(command.command_id);
      if (record) throw commandStoredError(record, command);
    }
    const stored = events.map((e) => this.byId.get(e.event_id));
    stored.forEach((s, i) => {
      if (s && !sameContent(s, events[i])) throw new EventIdReusedError(s.event_id, { aggregate_type: s.aggregate_type, aggregate_id: s.aggregate_id }, s.aggregate_version);
    });
    if (stored.every((s) => s !== undefined)) {
      const versions = stored.map((s) => s!.aggregate_version);
      return { events: stored.map((s) => ({ event_id: s!.event_id, version: s!.aggregate_version, s3: refOf(s!) })), nextExpectedVersion: Math.max(...versions) };
    }
    if (stored.some((s) => s !== undefined)) throw new VersionConflictError(stream, expectedVersion, current);
    checkExpected(stream, expectedVersion, current);
    const placed = events.map((e, i) => ({ ...copy(e), aggregate_version: current + 1 + i }));
    this.streamOf(stream).push(...placed);
    for (const e of placed) this.byId.set(e.event_id, e);
    this.log.push(...placed);
    if (command) this.markers.set(command.command_id, { request_hash: command.request_hash, stream: { ...stream }, first_version: current + 1, count: placed.length });
    return { events: placed.map((e) => ({ event_id: e.event_id, version: e.aggregate_version, s3: refOf(e) })), nextExpectedVersion: current + placed.length };
  }

  async claim(entry: EventEnvelope): Promise<'claimed' | 'taken'> {
    const stream = { aggregate_type: entry.aggregate_type, aggregate_id: entry.aggregate_id };
    validate(stream, 0, [entry]);
    if (claimedBy(entry) === undefined) throw new InvalidEventError('a claim entry names its command in metadata.claimed_by');
    const entries = this.streamOf(stream);
    if (entry.aggregate_version <= entries.length) return 'taken';
    if (entry.aggregate_version !== entries.length + 1) throw new InvalidEventError(`a claim at v${entry.aggregate_version} would open a gap after v${entries.length}`);
    entries.push(copy(entry));
    return 'claimed';
  }

  async decideClaims(commandId: string, decision: ClaimDecision, mark: { request_hash: string; stream: StreamId }): Promise<ClaimDecision> {
    const existing = this.markers.get(commandId);
    if (!existing) {
      this.markers.set(commandId, { request_hash: mark.request_hash, stream: { ...mark.stream }, first_version: 1, count: 0, decision });
      return decision;
    }
    if (!existing.decision) throw new InvalidEventError(`command ${commandId} was recorded without a claim decision`);
    return existing.decision;
  }

  async findCommand(commandId: string): Promise<CommandRecord | undefined> {
    const m = this.markers.get(commandId);
    if (!m || m.decision) return undefined;
    const events = await this.readStream(m.stream, { fromVersion: m.first_version, toVersion: m.first_version + m.count - 1 });
    return { command_id: commandId, request_hash: m.request_hash, stream: { ...m.stream }, events };
  }

  async readStream(stream: StreamId, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    const from = Math.max(1, options.fromVersion ?? 1);
    const to = options.toVersion ?? Number.POSITIVE_INFINITY;
    return this.streamOf(stream)
      .filter((e) => e.aggregate_version >= from && e.aggregate_version <= to)
      .map((e) => {
        const by = claimedBy(e);
        const envelope = by === undefined ? copy(e) : resolveClaim(copy(e), this.markers.get(by)?.decision);
        return { envelope, s3: refOf(e) };
      });
  }

  async currentVersion(stream: StreamId): Promise<number> {
    return this.version(stream);
  }

  /** The checkpoint is the position in append order. */
  async readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    const from = options.from === undefined ? 0 : Number(options.from);
    if (!Number.isSafeInteger(from) || from < 0) throw new InvalidEventError(`not an in-memory checkpoint: ${options.from}`);
    const limit = Math.max(1, options.limit ?? 100);
    const page = this.log.slice(from, from + limit);
    return {
      events: page.map((e) => ({ envelope: copy(e), s3: refOf(e) })),
      checkpoint: page.length > 0 ? String(from + page.length) : options.from,
      hasMore: from + page.length < this.log.length,
    };
  }

  async aggregateAt(stream: StreamId, version: number): Promise<StoredEvent[]> {
    if (!Number.isSafeInteger(version) || version < 0) throw new InvalidEventError(`invalid version ${version}`);
    if (version === 0) return [];
    const events = await this.readStream(stream, { fromVersion: 1, toVersion: version });
    if (events.length < version) throw new EventNotFoundError(`stream ${stream.aggregate_type}/${stream.aggregate_id} has no version ${version} (current ${events.length})`);
    return events;
  }

  /** An event by the reference append returned (the port of ActivityDeps.s3Events). */
  async readEvent(ref: S3Reference): Promise<StoredEvent> {
    const e = this.byId.get(ref.event_id);
    if (!e) throw new EventNotFoundError(`no event ${ref.event_id}`);
    return { envelope: copy(e), s3: refOf(e) };
  }

  private streamOf(stream: StreamId): EventEnvelope[] {
    const k = streamKey(stream);
    let entries = this.streams.get(k);
    if (!entries) this.streams.set(k, (entries = []));
    return entries;
  }

  private version(stream: StreamId): number {
    return this.streams.get(streamKey(stream))?.length ?? 0;
  }
}

function refOf(e: EventEnvelope): S3Reference {
  return { bucket: BUCKET, key: `events/${e.aggregate_type}/${e.aggregate_id}/${e.aggregate_version}`, endpoint: 'memory', event_id: e.event_id };
}

/** What makes a retried append a repeat rather than a reuse of the id (the legacy store's comparison). */
function sameContent(a: EventEnvelope, b: EventEnvelope): boolean {
  return a.aggregate_type === b.aggregate_type && a.aggregate_id === b.aggregate_id && a.event_type === b.event_type && JSON.stringify(a.payload) === JSON.stringify(b.payload);
}

function checkExpected(stream: StreamId, expected: ExpectedVersion, current: number): void {
  const ok = expected === 'any' || (expected === 'stream_exists' && current >= 1) || (expected === 'no_stream' && current === 0) || expected === current;
  if (!ok) throw new VersionConflictError(stream, expected, current);
}

function validate(stream: StreamId, expected: ExpectedVersion, events: EventEnvelope[]): void {
  if (typeof expected === 'number' && (!Number.isSafeInteger(expected) || expected < 0)) throw new InvalidEventError(`expected version must be an integer >= 0, got ${expected}`);
  if (stream.aggregate_type === '' || stream.aggregate_id === '') throw new InvalidEventError('a stream needs a type and an id');
  const ids = new Set<string>();
  for (const e of events) {
    if (e.aggregate_type !== stream.aggregate_type || e.aggregate_id !== stream.aggregate_id) throw new InvalidEventError(`event ${e.event_id} belongs to another stream`);
    if (ids.has(e.event_id)) throw new InvalidEventError(`event id ${e.event_id} appears twice in one append`);
    ids.add(e.event_id);
    if (Number.isNaN(Date.parse(e.occurred_at))) throw new InvalidEventError(`event ${e.event_id} has an invalid occurred_at`);
  }
}

/** Command bodies, bulk plans and batches by key. */
export class InMemoryBlobStore implements BlobStore {
  readonly objects = new Map<string, string>();
  private ref(key: string): S3Reference {
    return { bucket: BUCKET, key, endpoint: 'memory', event_id: '' };
  }
  planOf(commandId: string): S3Reference {
    return this.ref(`commands/${commandId}/plan.json`);
  }
  batchOf(commandId: string, batch: number): S3Reference {
    return this.ref(`commands/${commandId}/batches/${batch}.json`);
  }
  async putJson(ref: S3Reference, body: unknown): Promise<void> {
    this.objects.set(ref.key, JSON.stringify(body));
  }
  async putMany(items: { ref: S3Reference; body: unknown }[]): Promise<void> {
    for (const i of items) await this.putJson(i.ref, i.body);
  }
  async getJson<T = unknown>(ref: S3Reference): Promise<T> {
    const v = await this.getJsonIfExists<T>(ref);
    if (v === undefined) throw new Error(`no blob ${ref.key}`);
    return v;
  }
  async getJsonIfExists<T = unknown>(ref: S3Reference): Promise<T | undefined> {
    const text = this.objects.get(ref.key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }
}

/**
 * What decide() reads from the read models, as the test sets it: active databases (life 1 unless
 * set), classes per database, instances per database. No projection: tests state the context.
 */
export class InMemoryContext implements DecisionContext {
  readonly databases = new Map<string, DatabaseState>();
  readonly classes = new Map<string, Record<string, ClassDefinition>>();
  readonly instances = new Map<string, Record<string, InstanceRef>>();

  async databaseState(db: string): Promise<DatabaseState> {
    return this.databases.get(db) ?? { aggregate_type: 'database', status: 'active', version: 1, incarnation: 1, name: db };
  }
  async classCatalog(db: string): Promise<ClassCatalog> {
    return { ...(this.classes.get(db) ?? {}) };
  }
  async instanceRefs(db: string, ids: readonly string[]): Promise<TargetCatalog> {
    const all = this.instances.get(db) ?? {};
    return Object.fromEntries(ids.map((id) => [id, all[id]]));
  }
  async countInstances(db: string, classId: string): Promise<number> {
    return Object.values(this.instances.get(db) ?? {}).filter((i) => !i.deleted && i.class_id === classId).length;
  }
  async bulkOrigin(): Promise<null> {
    return null;
  }
}

/** Activity dependencies over in-memory ports; every store mode is the one in-memory store. */
export function inMemoryDeps(overrides: Partial<ActivityDeps> = {}) {
  const store = new InMemoryEventStore();
  const ledgerRows: LedgerInput[] = [];
  const delivered: string[][] = [];
  const projected: EventEnvelope[][] = [];
  const deps: ActivityDeps = {
    eventStores: { s3_only: store, legacy: store, dual_write: store } as ActivityDeps['eventStores'],
    appendedEvents: new AppendedEventReader(store, store),
    blobs: new InMemoryBlobStore(),
    ledger: { record: async (rows) => void ledgerRows.push(...rows) },
    relay: { publishThrough: async (ids) => void delivered.push([...ids]) },
    projector: { apply: async (events) => void projected.push(events.map(copy)) },
    context: new InMemoryContext(),
    ...overrides,
  };
  return { deps, store, ledgerRows, delivered, projected, context: deps.context as InMemoryContext, blobs: deps.blobs as InMemoryBlobStore };
}

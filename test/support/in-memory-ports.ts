/**
 * In-memory stand-ins of the ports that record every call: for unit tests of the HTTP mapping
 * and for running the API without the stack. They hold no business rules; tests script outcomes.
 */
import type { EventEnvelope } from '../../src/contracts/event-envelope';
import { loadConfig } from '../../src/app/config';
import type { InputLimits } from '../../src/contracts/input-limits';
import { ReadModelError } from '../../src/ports/read-model-errors';
import { cursorKey, pageOf } from '../../src/domain/paging';
import type { ApiPorts } from '../../src/api/ports';
import type { ClassView, DatabaseView, EdgeView, InstanceQuery, InstanceView, Page, PageQuery, ReadModelQueries } from '../../src/ports/read-models';
import { isStreamedItems, type CommandGateway, type CommandStatusView, type SubmitCommand, type SubmitOutcome } from '../../src/ports/command-gateway';
import type { EventHistory } from '../../src/ports/event-history';
import type { HealthCheck } from '../../src/ports/health';
import type { ApiKeyRecord, ApiKeyStore } from '../../src/ports/api-keys';
import { ApiKeyError, ApiKeys } from '../../src/api/api-keys';
import { DEFAULT_ACCESS_LIMITS, type AccessControl, type AccessLimits } from '../../src/api/auth';

export class RecordingGateway implements CommandGateway {
  readonly submitted: SubmitCommand[] = [];
  readonly statusCalls: string[] = [];
  readonly waitCalls: Array<{ commandId: string; timeoutMs: number; signal?: AbortSignal }> = [];
  readonly views = new Map<string, CommandStatusView>();
  private readonly byKey = new Map<string, string>();
  private seq = 0;
  /** What wait() answers; by default the stored view (or null). */
  onWait: (commandId: string, timeoutMs: number, signal?: AbortSignal) => CommandStatusView | null | Promise<CommandStatusView | null> = (id) => this.views.get(id) ?? null;

  async submit(cmd: SubmitCommand): Promise<SubmitOutcome> {
    if (isStreamedItems(cmd.payload)) {
      // Read the bulk as the real gateway does; tests look at the payload it would have stored.
      const instances: unknown[] = [];
      const { class_id } = cmd.payload;
      await cmd.payload.writeItems(async (item) => void instances.push(JSON.parse(item)));
      cmd = { ...cmd, payload: { class_id, instances } };
    }
    this.submitted.push(cmd);
    if (cmd.idempotency_key !== undefined) {
      const first = this.byKey.get(cmd.idempotency_key);
      if (first !== undefined) return { command_id: first, created: false };
    }
    const commandId = `cmd-${++this.seq}`;
    if (cmd.idempotency_key !== undefined) this.byKey.set(cmd.idempotency_key, commandId);
    const db = cmd.db_name ?? (cmd.payload as { name?: string }).name;
    this.views.set(commandId, { command_id: commandId, command_type: cmd.command_type, status: 'PENDING', ...(db !== undefined ? { db_name: db } : {}), events: [] });
    return { command_id: commandId, created: true };
  }

  async isClosed(commandId: string): Promise<boolean> {
    const status = this.views.get(commandId)?.status;
    return status === undefined || status === 'COMPLETED' || status === 'FAILED';
  }

  async status(commandId: string): Promise<CommandStatusView | null> {
    this.statusCalls.push(commandId);
    return this.views.get(commandId) ?? null;
  }

  async wait(commandId: string, timeoutMs: number, signal?: AbortSignal): Promise<CommandStatusView | null> {
    this.waitCalls.push({ commandId, timeoutMs, signal });
    return this.onWait(commandId, timeoutMs, signal);
  }

  /** Moves a recorded command on, as a worker would. */
  complete(commandId: string, patch: Partial<CommandStatusView> = {}): CommandStatusView {
    const view = { ...this.views.get(commandId)!, status: 'COMPLETED' as const, ...patch };
    this.views.set(commandId, view);
    return view;
  }

  fail(commandId: string, error: NonNullable<CommandStatusView['error']>): CommandStatusView {
    const view = { ...this.views.get(commandId)!, status: 'FAILED' as const, error };
    this.views.set(commandId, view);
    return view;
  }
}

const by =
  <T>(key: (item: T) => string) =>
  (a: T, b: T) =>
    key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;

/** The read models' keyset paging over an array sorted by `key`, with the same opaque cursors. */
function keysetPage<T>(sorted: T[], q: PageQuery, key: (item: T) => string): Page<T> {
  let rest = sorted;
  if (q.cursor !== undefined) {
    const after = cursorKey(q.cursor);
    if (typeof after !== 'string') throw new ReadModelError('INVALID_QUERY', 'the cursor is not one this API issued', { parameter: 'cursor' });
    rest = sorted.filter((item) => key(item) > after);
  }
  return pageOf(rest.slice(0, q.limit + 1), q.limit, key);
}

export class InMemoryReadModels implements ReadModelQueries {
  readonly calls: Array<{ method: string; args: unknown[] }> = [];
  databases: DatabaseView[] = [];
  classes: ClassView[] = [];
  instances: InstanceView[] = [];
  edges: Array<EdgeView & { db_name: string }> = [];

  private record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
  }

  async listDatabases(q: PageQuery) {
    this.record('listDatabases', q);
    return keysetPage([...this.databases].sort(by((d) => d.name)), q, (d) => d.name);
  }
  async getDatabase(name: string) {
    this.record('getDatabase', name);
    return this.databases.find((d) => d.name === name) ?? null;
  }
  async listClasses(db: string, q: PageQuery) {
    this.record('listClasses', db, q);
    return keysetPage(this.classes.filter((c) => c.db_name === db).sort(by((c) => c.id)), q, (c) => c.id);
  }
  async getClass(db: string, classId: string) {
    this.record('getClass', db, classId);
    return this.classes.find((c) => c.db_name === db && c.id === classId) ?? null;
  }
  async listInstances(db: string, q: InstanceQuery) {
    this.record('listInstances', db, q);
    const matching = this.instances.filter(
      (i) => i.db_name === db && (q.class_id === undefined || i.class_id === q.class_id) && Object.entries(q.filter ?? {}).every(([k, v]) => i.properties[k] === v),
    );
    return keysetPage(matching.sort(by((i) => i.id)), q, (i) => i.id);
  }
  async getInstance(db: string, id: string) {
    this.record('getInstance', db, id);
    return this.instances.find((i) => i.db_name === db && i.id === id) ?? null;
  }
  async relationships(db: string, id: string, q: PageQuery) {
    this.record('relationships', db, id, q);
    const strip = ({ from_id, predicate, to_id }: EdgeView) => ({ from_id, predicate, to_id });
    const tagged = [
      ...this.edges.filter((e) => e.db_name === db && e.to_id === id).map((e) => ({ dir: 'in', ...strip(e) })),
      ...this.edges.filter((e) => e.db_name === db && e.from_id === id).map((e) => ({ dir: 'out', ...strip(e) })),
    ].sort(by((e) => [e.dir, e.predicate, e.from_id, e.to_id].join('\u0001')));
    const page = keysetPage(tagged, q, (e) => [e.dir, e.predicate, e.from_id, e.to_id].join('\u0001'));
    return {
      outgoing: page.items.filter((e) => e.dir === 'out').map(strip),
      incoming: page.items.filter((e) => e.dir === 'in').map(strip),
      next_cursor: page.next_cursor,
    };
  }
  async traverse(db: string, id: string, depth: number, limit: number) {
    this.record('traverse', db, id, depth, limit);
    const seen = new Set([id]);
    const edges: EdgeView[] = [];
    let frontier = [id];
    for (let d = 0; d < depth && frontier.length > 0; d++) {
      const next: string[] = [];
      for (const e of this.edges.filter((x) => x.db_name === db)) {
        if (!frontier.includes(e.from_id) && !frontier.includes(e.to_id)) continue;
        if (!edges.some((x) => x.from_id === e.from_id && x.predicate === e.predicate && x.to_id === e.to_id)) {
          edges.push({ from_id: e.from_id, predicate: e.predicate, to_id: e.to_id });
        }
        for (const n of [e.from_id, e.to_id]) {
          if (seen.has(n) || seen.size >= limit) continue;
          seen.add(n);
          next.push(n);
        }
      }
      frontier = next;
    }
    return { nodes: this.instances.filter((i) => i.db_name === db && seen.has(i.id)), edges };
  }
  async search(db: string, text: string, q: { class_id?: string; limit: number }) {
    this.record('search', db, text, q);
    const needle = text.toLowerCase();
    return this.instances
      .filter((i) => i.db_name === db && (q.class_id === undefined || i.class_id === q.class_id))
      .filter((i) => JSON.stringify(i.properties).toLowerCase().includes(needle))
      .slice(0, q.limit);
  }
}

export class InMemoryHistory implements EventHistory {
  readonly calls: Array<{ aggregateType: string; aggregateId: string; toVersion?: number; fromVersion?: number }> = [];
  readonly streams = new Map<string, EventEnvelope[]>();

  append(event: EventEnvelope): void {
    const key = `${event.aggregate_type}/${event.aggregate_id}`;
    this.streams.set(key, [...(this.streams.get(key) ?? []), event]);
  }

  async readStream(aggregateType: string, aggregateId: string, toVersion?: number, fromVersion?: number): Promise<EventEnvelope[]> {
    this.calls.push({ aggregateType, aggregateId, ...(toVersion !== undefined ? { toVersion } : {}), ...(fromVersion !== undefined ? { fromVersion } : {}) });
    const events = this.streams.get(`${aggregateType}/${aggregateId}`) ?? [];
    return events.filter((e) => e.aggregate_version >= (fromVersion ?? 1) && (toVersion === undefined || e.aggregate_version <= toVersion));
  }
}

/** API keys kept in a map, for unit tests and running the API without the stack. */
export class InMemoryApiKeyStore implements ApiKeyStore {
  readonly rows = new Map<string, { record: ApiKeyRecord; hash: string }>();

  async insert(record: Omit<ApiKeyRecord, 'created_at' | 'revoked_at'>, hash: string): Promise<ApiKeyRecord> {
    if (this.rows.has(record.key_id) || [...this.rows.values()].some((r) => r.record.name === record.name)) {
      throw new ApiKeyError('API_KEY_EXISTS', `an API key named '${record.name}' exists (names are never reused)`);
    }
    const full = { ...record, created_at: new Date().toISOString(), revoked_at: null };
    this.rows.set(record.key_id, { record: full, hash });
    return full;
  }
  async find(keyId: string) {
    return this.rows.get(keyId) ?? null;
  }
  async list() {
    return [...this.rows.values()].map((r) => r.record);
  }
  async revoke(keyId: string) {
    const row = this.rows.get(keyId);
    if (row === undefined) return null;
    row.record = { ...row.record, revoked_at: row.record.revoked_at ?? new Date().toISOString() };
    return row.record;
  }
}

export interface InMemoryPorts extends ApiPorts {
  commands: RecordingGateway;
  readModels: InMemoryReadModels;
  history: InMemoryHistory;
  health: HealthCheck[];
}

/** The defaults of .env.example, from the one config module. */
const DEFAULT_LIMITS = loadConfig({}).inputLimits;

/**
 * Access is off unless asked for (`access: { mode: 'on' }`): the tests of the HTTP mapping need no
 * keys; the access tests turn it on and mint keys through `ports.access.keys`.
 */
export function inMemoryPorts(
  overrides: Partial<Pick<ApiPorts, 'maxWaitMs' | 'bodyLimitBytes' | 'health'>> & {
    limits?: Partial<InputLimits>;
    access?: { mode?: AccessControl['mode']; limits?: Partial<AccessLimits>; cacheMs?: number };
  } = {},
): InMemoryPorts {
  return {
    access: {
      mode: overrides.access?.mode ?? 'off',
      keys: new ApiKeys({ store: new InMemoryApiKeyStore(), secret: 'in-memory-test-secret', cacheMs: overrides.access?.cacheMs ?? 0 }),
      limits: { ...DEFAULT_ACCESS_LIMITS, ...overrides.access?.limits },
    },
    commands: new RecordingGateway(),
    readModels: new InMemoryReadModels(),
    history: new InMemoryHistory(),
    audit: { list: async () => ({ items: [], next_cursor: null }) },
    health: overrides.health ?? [],
    maxWaitMs: overrides.maxWaitMs ?? 30_000,
    bodyLimitBytes: overrides.bodyLimitBytes ?? 1024 * 1024,
    limits: { ...DEFAULT_LIMITS, ...overrides.limits },
  };
}

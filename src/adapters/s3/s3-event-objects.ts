/**
 * What the S3 event store writes besides events (date index entries, command markers), the stored
 * shapes it returns, and the pure helpers of its append protocol (see s3-event-store.ts).
 */
import type { EventEnvelope, S3Reference, StoredEvent } from '../../contracts/event-envelope';
import type { AppendedEvent, ClaimDecision } from '../../ports/event-store';

export interface S3AppendedEvent extends AppendedEvent {
  s3: S3Reference;
}

export interface S3StoredEvent<P = unknown> extends StoredEvent<P> {
  s3: S3Reference;
}

export interface DateIndexEntry {
  event_id: string;
  aggregate_type: string;
  aggregate_id: string;
  aggregate_version: number;
  occurred_at: string;
  event_key: string;
}

/**
 * The command marker: the one place where a command's events may be committed. Written with
 * If-None-Match before the commit; replaced (If-Match) only once the version it names is held by
 * another event for good, so no two attempts of one command can ever commit at two versions.
 */
export interface CommandMarker {
  command_id: string;
  request_hash: string;
  aggregate_type: string;
  aggregate_id: string;
  first_version: number;
  event_ids: string[];
  /** Set on the marker of a command that claims (bulk): its write-once decision on its claims. */
  decision?: ClaimDecision;
}

/** Outcome of writing one event's pre-commit objects. */
export type Prepared = { kind: 'ready'; written: Array<[string, string | undefined]> } | { kind: 'stored'; version: number };
/** Outcome of the commit PUT. */
export type Committed = { kind: 'created' } | { kind: 'stored' } | { kind: 'conflict' };

/** An attempt lost the version race (internal; becomes VersionConflictError or a retry). */
export class RaceLost extends Error {
  constructor(
    readonly committedBefore: number,
    /** Events of the batch found already stored at other versions (a retry of an earlier append). */
    readonly stored: S3AppendedEvent[] = [],
    /** A version the stream is known to have reached (from the hint), saving a LIST. */
    readonly knownVersion?: number,
  ) {
    super('race lost');
  }
}

/** Per-append memo of stream index reads (only positive answers are cached). */
export class IndexReads {
  private readonly found = new Map<number, EventEnvelope>();
  constructor(private readonly read: (v: number) => Promise<EventEnvelope | undefined>) {}
  async at(version: number): Promise<EventEnvelope | undefined> {
    const hit = this.found.get(version);
    if (hit) return hit;
    const env = await this.read(version);
    if (env) this.found.set(version, env);
    return env;
  }
}

function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}

/** Same event, whatever version it was placed at. */
export function sameEventContent(a: EventEnvelope, b: EventEnvelope): boolean {
  return stableStringify({ ...a, aggregate_version: 0 }) === stableStringify({ ...b, aggregate_version: 0 });
}

export function parseJson<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

export const sameTarget = (a: CommandMarker, b: CommandMarker) =>
  a.aggregate_type === b.aggregate_type && a.aggregate_id === b.aggregate_id && a.first_version === b.first_version && a.event_ids.join('\u0000') === b.event_ids.join('\u0000');

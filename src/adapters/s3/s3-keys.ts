/**
 * Pure key layout of the S3 event store (see DESIGN.md, "Event store layout (S3)").
 *
 *   events/{YYYY}/{MM}/{DD}/{type}/{id}/{event_id}.json               event body
 *   indexes/by-aggregate/{type}/{id}/{version:020d}.json              stream index (commit point)
 *   indexes/by-date/{YYYY}/{MM}/{DD}/{epoch_ms:013d}_{event_id}.json  date index (replay order)
 *   indexes/by-command/{command_id}.json                              command marker (exact retries)
 *   snapshots/{type}/{id}/{version:020d}.json                          aggregate state at a version (a cache)
 *
 * Every caller-supplied string (aggregate type, aggregate id, event id) is one key *segment*,
 * encoded so that it can never contain '/', '.', '%', control characters or non-ASCII:
 *   - bytes of [A-Za-z0-9_-] stay as they are;
 *   - every other UTF-8 byte becomes `~XX` (upper-case hex), so `../x` -> `~2E~2E~2Fx`;
 *   - the empty string is refused;
 *   - an encoding longer than MAX_SEGMENT chars becomes `{first ~64 encoded chars}~~{sha256 hex}`
 *     of the raw UTF-8 bytes: `~~` never occurs in a plain encoding (a `~` is always followed by
 *     two hex digits), so hashed and plain segments cannot collide. Hashed segments are not
 *     reversible from the key; the envelope stored under the key holds the original id.
 * A segment is therefore at most 130 ASCII chars, and the longest key stays far below S3's
 * 1024-byte limit even with a 512-char prefix.
 */
import { createHash } from 'node:crypto';

export const MAX_SEGMENT = 128;
const HASHED_HEAD = 64;
export const MAX_PREFIX = 512;
/** 13 digits of epoch milliseconds reach 2286-11-20. */
const MAX_EPOCH_MS = 9_999_999_999_999;

export class KeyEncodingError extends Error {
  readonly code = 'INVALID_EVENT';
}

const SAFE = /^[A-Za-z0-9_-]$/;

export function encodeSegment(raw: string): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new KeyEncodingError('a key segment must be a non-empty string');
  let out = '';
  for (const byte of Buffer.from(raw, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && SAFE.test(ch) ? ch : `~${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length <= MAX_SEGMENT) return out;
  let head = out.slice(0, HASHED_HEAD);
  // never cut an escape in half: drop a trailing partial `~X` / `~`
  const cut = head.lastIndexOf('~');
  if (cut !== -1 && cut > head.length - 3) head = head.slice(0, cut);
  return `${head}~~${createHash('sha256').update(raw, 'utf8').digest('hex')}`;
}

export function isHashedSegment(seg: string): boolean {
  return seg.includes('~~');
}

/** The raw string of a plain segment; undefined for a hashed (long) one or an invalid encoding. */
export function decodeSegment(seg: string): string | undefined {
  if (isHashedSegment(seg) || !/^(?:[A-Za-z0-9_-]|~[0-9A-F]{2})+$/.test(seg)) return undefined;
  const bytes: number[] = [];
  for (let i = 0; i < seg.length;) {
    if (seg[i] === '~') {
      bytes.push(parseInt(seg.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      bytes.push(seg.charCodeAt(i));
      i += 1;
    }
  }
  const buf = Buffer.from(bytes);
  const s = buf.toString('utf8');
  // reject encodings of invalid UTF-8 (they would not round-trip)
  return Buffer.from(s, 'utf8').equals(buf) ? s : undefined;
}

/** A store prefix: '' or safe path segments ending in '/'. Refuses '..', '//', leading '/'. */
export function normalizePrefix(prefix: string | undefined): string {
  if (!prefix) return '';
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  if (p.length > MAX_PREFIX || !/^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*\/$/.test(p) || p.split('/').some((s) => s === '.' || s === '..')) {
    throw new KeyEncodingError(`invalid key prefix ${JSON.stringify(prefix).slice(0, 100)}`);
  }
  return p;
}

export interface DatePart {
  yyyy: string;
  mm: string;
  dd: string;
  epochMs: number;
}

/** UTC date parts of an ISO-8601 occurred_at (with zone). */
export function datePartOf(occurredAt: string): DatePart {
  const ms = typeof occurredAt === 'string' && /^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(occurredAt) ? Date.parse(occurredAt) : NaN;
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_EPOCH_MS) throw new KeyEncodingError(`occurred_at must be an ISO-8601 timestamp with zone after 1970: ${JSON.stringify(occurredAt)?.slice(0, 60)}`);
  const d = new Date(ms);
  return {
    yyyy: String(d.getUTCFullYear()).padStart(4, '0'),
    mm: String(d.getUTCMonth() + 1).padStart(2, '0'),
    dd: String(d.getUTCDate()).padStart(2, '0'),
    epochMs: ms,
  };
}

export function versionSegment(version: number): string {
  if (!Number.isSafeInteger(version) || version < 1) throw new KeyEncodingError(`invalid stream version ${version}`);
  return String(version).padStart(20, '0');
}

export interface StreamRef {
  aggregate_type: string;
  aggregate_id: string;
}

/** Builds every key of one store prefix. All keys returned are absolute (prefix included). */
export class S3KeyLayout {
  readonly prefix: string;
  constructor(prefix?: string) {
    this.prefix = normalizePrefix(prefix);
  }

  /** `{prefix}indexes/by-aggregate/{type}/{id}/`: the only place one stream's versions live. */
  streamIndexPrefix(s: StreamRef): string {
    return `${this.prefix}indexes/by-aggregate/${encodeSegment(s.aggregate_type)}/${encodeSegment(s.aggregate_id)}/`;
  }

  streamIndexKey(s: StreamRef, version: number): string {
    return `${this.streamIndexPrefix(s)}${versionSegment(version)}.json`;
  }

  /** The version of a stream index key (undefined if the key is not one). */
  versionOfIndexKey(key: string): number | undefined {
    const m = /\/(\d{20})\.json$/.exec(key);
    if (!m) return undefined;
    const v = Number(m[1]);
    return Number.isSafeInteger(v) && v >= 1 ? v : undefined;
  }

  eventKey(s: StreamRef, eventId: string, occurredAt: string): string {
    const d = datePartOf(occurredAt);
    return `${this.prefix}events/${d.yyyy}/${d.mm}/${d.dd}/${encodeSegment(s.aggregate_type)}/${encodeSegment(s.aggregate_id)}/${encodeSegment(eventId)}.json`;
  }

  /** `{prefix}snapshots/{type}/{id}/`: the stream's state snapshots, in version order. */
  snapshotPrefix(s: StreamRef): string {
    return `${this.prefix}snapshots/${encodeSegment(s.aggregate_type)}/${encodeSegment(s.aggregate_id)}/`;
  }

  snapshotKey(s: StreamRef, version: number): string {
    return `${this.snapshotPrefix(s)}${versionSegment(version)}.json`;
  }

  /** `{prefix}indexes/by-command/{command id}.json`: where a command's events were stored. */
  commandKey(commandId: string): string {
    return `${this.prefix}indexes/by-command/${encodeSegment(commandId)}.json`;
  }

  dateIndexRoot(): string {
    return `${this.prefix}indexes/by-date/`;
  }

  dateIndexKey(eventId: string, occurredAt: string): string {
    const d = datePartOf(occurredAt);
    return `${this.dateIndexRoot()}${d.yyyy}/${d.mm}/${d.dd}/${String(d.epochMs).padStart(13, '0')}_${encodeSegment(eventId)}.json`;
  }

  /** A key that every date-index entry at or after `epochMs` sorts after (a listing's start-after). */
  dateIndexBefore(epochMs: number): string {
    const d = datePartOf(new Date(Math.max(0, epochMs)).toISOString());
    return `${this.dateIndexRoot()}${d.yyyy}/${d.mm}/${d.dd}/${String(d.epochMs).padStart(13, '0')}`;
  }

  /** Strips the store prefix (checkpoints are prefix-relative, hence portable between prefixes). */
  relative(key: string): string {
    if (!key.startsWith(this.prefix)) throw new KeyEncodingError(`key outside the store prefix: ${key.slice(0, 100)}`);
    return key.slice(this.prefix.length);
  }

  /** A prefix-relative date-index checkpoint back to an absolute key (validated). */
  checkpointKey(checkpoint: string): string {
    if (!/^indexes\/by-date\/\d{4}\/\d{2}\/\d{2}\/\d{13}_[A-Za-z0-9_~-]+\.json$/.test(checkpoint)) {
      throw new KeyEncodingError(`invalid readAll checkpoint ${JSON.stringify(checkpoint).slice(0, 100)}`);
    }
    return `${this.prefix}${checkpoint}`;
  }
}

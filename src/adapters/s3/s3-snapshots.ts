/**
 * Aggregate state snapshots in S3 at `snapshots/{type}/{id}/{version:020d}.json` (see
 * ports/snapshots). Each one records the state version and the event schema versions (the upcaster
 * chains) it was folded under, so a snapshot made by other code (before a new upcaster or a change
 * of evolve) is ignored rather than trusted.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { STATE_VERSION, UPCASTERS, currentSchemaVersion } from '../../domain';
import type { StreamId } from '../../ports/event-store';
import type { SnapshotStore, StateSnapshot } from '../../ports/snapshots';
import { getText, listKeys, putObject } from './s3-client';
import { parseJson } from './s3-event-objects';
import { S3KeyLayout } from './s3-keys';

/** The stored object's own layout: bump when it changes (older objects are then ignored). */
const SNAPSHOT_FORMAT = 1;
/** The current schema version of every event type with upcasters: a new upcaster changes it. */
const EVENT_SCHEMAS = Object.fromEntries(
  Object.keys(UPCASTERS)
    .sort()
    .map((type) => [type, currentSchemaVersion(type)]),
);
/** Unusable snapshots passed over before giving up and folding from the start. */
const MAX_CANDIDATES = 3;

interface StoredSnapshot extends StateSnapshot {
  format: number;
  state_version: number;
  event_schemas: Record<string, number>;
  aggregate_type: string;
  aggregate_id: string;
  version: number;
}

export class S3SnapshotStore implements SnapshotStore {
  private readonly keys: S3KeyLayout;

  constructor(private readonly o: { client: S3Client; bucket: string; prefix?: string }) {
    this.keys = new S3KeyLayout(o.prefix);
  }

  async latest(stream: StreamId, maxVersion = Number.MAX_SAFE_INTEGER): Promise<StateSnapshot | undefined> {
    // Versions are zero-padded, so key order is version order: the candidates are the last keys at or below maxVersion.
    const { objects } = await listKeys(this.o.client, this.o.bucket, this.keys.snapshotPrefix(stream));
    const versions = objects
      .map((o) => (o.Key ? this.keys.versionOfIndexKey(o.Key) : undefined))
      .filter((v): v is number => v !== undefined && v <= maxVersion)
      .sort((a, b) => b - a);
    for (const version of versions.slice(0, MAX_CANDIDATES)) {
      const found = this.usable(parseJson<StoredSnapshot>(await getText(this.o.client, this.o.bucket, this.keys.snapshotKey(stream, version))), stream, version);
      if (found) return found;
    }
    return undefined;
  }

  async put(stream: StreamId, snapshot: StateSnapshot): Promise<void> {
    const stored: StoredSnapshot = {
      format: SNAPSHOT_FORMAT,
      state_version: STATE_VERSION,
      event_schemas: EVENT_SCHEMAS,
      ...stream,
      version: snapshot.state.version,
      as_of: snapshot.as_of,
      state: snapshot.state,
    };
    // A plain PUT: every writer of one version folds the same events to the same state.
    await putObject(this.o.client, this.o.bucket, this.keys.snapshotKey(stream, snapshot.state.version), JSON.stringify(stored));
  }

  private usable(s: StoredSnapshot | undefined, stream: StreamId, version: number): StateSnapshot | undefined {
    if (s === undefined || typeof s !== 'object' || s.state === null || typeof s.state !== 'object') return undefined;
    const current = s.format === SNAPSHOT_FORMAT && s.state_version === STATE_VERSION && JSON.stringify(s.event_schemas) === JSON.stringify(EVENT_SCHEMAS);
    const same = s.aggregate_type === stream.aggregate_type && s.aggregate_id === stream.aggregate_id && s.version === version;
    const consistent = s.state.version === version && s.state.aggregate_type === stream.aggregate_type;
    if (!current || !same || !consistent) return undefined;
    return { state: s.state, as_of: typeof s.as_of === 'string' ? s.as_of : null };
  }
}

/** Event envelopes and S3 store fixtures that adapter tests share. */
import { envelopeOf, eventIdFor, type EventEnvelope } from '../../src/contracts/event-envelope';
import type { StreamId } from '../../src/ports/event-store';
import { listKeys } from '../../src/adapters/s3/s3-client';
import { S3EventStore, createS3Client } from '../../src/adapters/s3/s3-event-store';
import type { StorageMode } from '../../src/contracts/storage-mode';
import { testConfig, uniqueName } from './env';

/** A stored-looking envelope at a given stream version (ledger and relay tests build streams by hand). */
export function versionedEnvelope(aggregateId: string, version: number, o: { commandId?: string; eventType?: string; payload?: unknown; storageMode?: StorageMode } = {}): EventEnvelope {
  const commandId = o.commandId ?? `cmd-${aggregateId}-${version}`;
  return {
    event_id: eventIdFor(commandId, 0),
    event_type: o.eventType ?? 'InstanceUpdated',
    aggregate_type: 'Instance',
    aggregate_id: aggregateId,
    aggregate_version: version,
    occurred_at: new Date().toISOString(),
    actor: 'test',
    command_id: commandId,
    schema_version: 1,
    payload: o.payload ?? { n: version },
    metadata: { storage_mode: o.storageMode ?? 's3_only' },
  };
}

/** S3 event stores under one run prefix of the shared bucket, and a listing of what they wrote. */
export function s3StoreFixture(name: string) {
  const client = createS3Client(testConfig);
  const runPrefix = uniqueName(name);
  let seq = 0;
  return {
    client,
    runPrefix,
    storeAt: (sub: string) => new S3EventStore({ client, bucket: testConfig.S3_BUCKET, endpoint: testConfig.s3Endpoint, prefix: `${runPrefix}/${sub}` }),
    /** A new event for a stream; append assigns its version. */
    event(stream: StreamId, payload: unknown = {}, occurredAt = '2026-03-01T12:00:00.000Z'): EventEnvelope {
      return envelopeOf({ event_type: 'ThingHappened', ...stream, payload }, { commandId: uniqueName(`cmd${seq++}`), position: 0, version: 0, occurredAt, actor: 'test', storageMode: 's3_only' });
    },
    async listAll(prefix: string): Promise<string[]> {
      return (await listKeys(client, testConfig.S3_BUCKET, prefix)).objects.map((o) => o.Key!);
    },
  };
}

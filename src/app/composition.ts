/**
 * The composition root: builds every adapter from the validated config, runs the migrations and
 * creates bucket and topic. Worker, API, tests and benchmarks all start here; tests pass their own
 * schema, key prefix and topic so runs never meet.
 */
import type { Pool } from 'pg';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Kafka } from 'kafkajs';
import type { Config } from './config';
import type { StorageMode } from '../contracts/storage-mode';
import { createOwnerPool, createPool, quoteIdent, START_CURSOR, type GlobalCursor } from '../adapters/postgres/postgres';
import { migrate, DEFAULT_SCHEMA } from '../adapters/postgres/migrations';
import { migrateApiKeys, PgApiKeyStore } from '../adapters/postgres/api-keys';
import { createS3Client, ensureBucket, S3EventStore } from '../adapters/s3/s3-event-store';
import { LegacyPgEventStore } from '../adapters/postgres/legacy-event-store';
import { CurrentModeEventStore, familyOf, ModeEventStore } from '../adapters/mode-event-store';
import { PgStreamLocker } from '../adapters/postgres/stream-locks';
import { PgStorageModeRepository } from '../adapters/postgres/storage-mode-repository';
import { PgS3MigrationStores } from '../adapters/migration-stores';
import { StorageModeCache } from './storage-mode-cache';
import type { MigrationDeps } from '../activities/migration';
import { createLedger, DeliveryLedger } from '../adapters/postgres/ledger';
import { createKafka, ensureTopic } from '../adapters/kafka/kafka';
import { createRelay, KafkaRelay } from '../adapters/kafka/kafka-relay';
import { CommandBlobStore } from '../adapters/s3/command-blobs';
import { S3SnapshotStore } from '../adapters/s3/s3-snapshots';
import { PgReadModelQueries, ReadModelProjector, migrateReadModels, DEFAULT_READ_MODEL_SCHEMA } from '../adapters/postgres/read-models';
import { PgReadModelRebuild } from '../adapters/postgres/read-model-rebuild';
import { PgCheckpointStore } from '../adapters/postgres/checkpoints';
import { AppendedEventReader } from '../adapters/appended-events';
import type { EventStore } from '../ports/event-store';
import { setStorageMode } from '../contracts/metrics';
import { appendOutcome, instrument } from './instrument';
import type { ActivityDeps } from '../activities';
import type { RebuildDeps } from '../activities/rebuild';
import type { ReconcileDeps } from '../activities/reconcile';
import type { EventHistory } from '../ports/event-history';
import type { SearchMaintenanceDeps } from '../activities/search';
import type { EventEnvelope } from '../contracts/event-envelope';
import { PgInstanceStates } from '../adapters/postgres/instance-states';
import { migrateSubjectKeys, PgSubjectKeyStore } from '../adapters/postgres/subject-keys';
import { AesPersonalDataCipher, CommandBodyCipher } from '../adapters/personal-data-cipher';
import type { SubjectPurge } from '../ports/personal-data';
import { migrateAuditLog, PgAuditLog } from '../adapters/postgres/audit-log';
import { createSearchClient, SearchEngine } from '../adapters/opensearch/engine';
import { reachService } from './startup';
import { grantToRuntimeRole } from '../adapters/postgres/runtime-role';

export interface InfraOptions {
  /** PostgreSQL schema of the ledger and the legacy event table. */
  schema?: string;
  readModelSchema?: string;
  /** Key prefix inside the bucket. */
  s3Prefix?: string;
  topic?: string;
  /** Pool size; the worker needs more than the API. */
  poolMax?: number;
  /** Prefix of the OpenSearch indices; by default OPENSEARCH_INDEX_PREFIX, or one derived from `schema` when a test gives its own. */
  searchPrefix?: string;
}

/** Connections of the stream-lock pool: one per stream write waiting for or holding its lock in this process. */
const LOCK_POOL_MAX = 16;

export interface Infrastructure {
  config: Config;
  /** The runtime pool: the app role (DATABASE_URL), which reads and writes rows and changes no schema. */
  pool: Pool;
  /** The schemas' owner (DATABASE_OWNER_URL): migrations, and a read-model rebuild's scratch schemas and switch. */
  ownerPool: Pool;
  s3: S3Client;
  s3Store: S3EventStore;
  legacyStore: LegacyPgEventStore;
  /** One store per storage mode (a command uses the one its input names). */
  eventStores: Record<StorageMode, EventStore>;
  /** The store of the mode in force: what reads, the rebuild and the reconciliation use. */
  currentStore: EventStore;
  modes: PgStorageModeRepository;
  modeCache: StorageModeCache;
  ledger: DeliveryLedger;
  kafka: Kafka;
  relay: KafkaRelay;
  readModels: PgReadModelQueries;
  projector: ReadModelProjector;
  blobs: CommandBlobStore;
  topic: string;
  schema: string;
  readModelSchema: string;
  history: EventHistory;
  apiKeys: PgApiKeyStore;
  /** The audit consumer's table (written by `npm run consumer -- audit`, read by the API). */
  auditLog: PgAuditLog;
  /** The OpenSearch side (absent with SEARCH_ENGINE=postgres). */
  search?: SearchEngine;
  /** Crypto-shredding: the cipher over the subject key store, and the purge of a forgotten subject. */
  personalData: NonNullable<ActivityDeps['personalData']>;
  activityDeps(): ActivityDeps;
  rebuildDeps(): RebuildDeps;
  reconcileDeps(): ReconcileDeps;
  searchDeps(): SearchMaintenanceDeps | undefined;
  migrationDeps(): MigrationDeps;
  close(): Promise<void>;
}

export async function connectInfrastructure(config: Config, o: InfraOptions = {}): Promise<Infrastructure> {
  const schema = o.schema ?? DEFAULT_SCHEMA;
  const readModelSchema = o.readModelSchema ?? DEFAULT_READ_MODEL_SCHEMA;
  const topic = o.topic ?? config.KAFKA_TOPIC;
  const prefix = o.s3Prefix ?? '';

  const pool = createPool(config, o.poolMax ? { max: o.poolMax } : {});
  const lockPool = createPool(config, { max: Math.max(LOCK_POOL_MAX, config.MIGRATION_CONCURRENCY) });
  const ownerPool = createOwnerPool(config);
  const s3 = createS3Client(config);
  const kafka = createKafka(config);
  try {
    const admin = kafka.admin();
    await Promise.all([
      reachService(config, 'postgres', async () => {
        await grantToRuntimeRole(ownerPool, pool, [schema, readModelSchema]);
        await Promise.all([
          migrate(ownerPool, schema)
            .then(() => migrateApiKeys(ownerPool, schema))
            .then(() => migrateAuditLog(ownerPool, schema))
            .then(() => migrateSubjectKeys(ownerPool, schema)),
          migrateReadModels(ownerPool, readModelSchema),
        ]);
      }),
      reachService(config, 's3', () => ensureBucket(s3, config.S3_BUCKET)),
      reachService(config, 'kafka', () =>
        admin
          .connect()
          .then(() => ensureTopic(admin, topic, config.KAFKA_PARTITIONS, config.KAFKA_REPLICATION_FACTOR))
          .finally(() => admin.disconnect()),
      ),
    ]);
  } catch (err) {
    // Not awaited: a pool still connecting to a silent server would hold the failure until its connect gave up.
    for (const p of [pool, lockPool, ownerPool]) void p.end().catch(() => undefined);
    s3.destroy();
    throw err;
  }
  const modes = new PgStorageModeRepository(pool, schema);
  await modes.init(config.storageMode, ownerPool);
  const modeCache = new StorageModeCache(modes, config.STORAGE_MODE_REFRESH_MS, (state) => setStorageMode(state.mode));
  const locks = new PgStreamLocker(lockPool);

  // Every step of the pipeline is timed (and traced) at the adapter, whoever calls it.
  const s3Store = instrument(new S3EventStore({ client: s3, bucket: config.S3_BUCKET, endpoint: config.s3Endpoint, prefix }), {
    append: { step: 's3_append', outcomeOf: appendOutcome },
    appendCommands: { step: 's3_append', outcomeOf: appendOutcome },
    readStream: 's3_read',
    readEvent: 's3_read',
  });
  const legacyStore = instrument(new LegacyPgEventStore(pool, schema), { append: { step: 'pg_append', outcomeOf: appendOutcome }, readStream: 'pg_read' });
  const legacyMayLead = () => modeCache.legacyMayLead();
  const eventStores: Record<StorageMode, EventStore> = {
    legacy: new ModeEventStore({ mode: 'legacy', primary: legacyStore, secondary: s3Store, mirror: false, secondaryMayLead: () => modeCache.s3MayLead(), locks }),
    dual_write: new ModeEventStore({ mode: 'dual_write', primary: s3Store, secondary: legacyStore, mirror: true, secondaryMayLead: legacyMayLead, locks }),
    s3_only: new ModeEventStore({ mode: 's3_only', primary: s3Store, secondary: legacyStore, mirror: false, secondaryMayLead: legacyMayLead, locks }),
  };
  const currentStore = new CurrentModeEventStore(eventStores, async () => (await modeCache.state()).mode, familyOf(config.storageMode));
  const ledger = instrument(createLedger(pool, { schema, topic, maxMessageBytes: config.KAFKA_MAX_MESSAGE_BYTES }), { record: 'ledger_record' });
  const relay = instrument(createRelay({ ledger, kafka, maxMessageBytes: config.KAFKA_MAX_MESSAGE_BYTES }), { publish: 'kafka_publish', publishThrough: 'kafka_publish' });
  const readModels = new PgReadModelQueries(pool, readModelSchema);
  // A projection that finds a gap (an earlier version still in flight) reads it from the event store.
  // Personal values are sealed in every store and snapshot; history, projections and rebuilds see them opened (or erased).
  const subjectKeys = new PgSubjectKeyStore(pool, schema, config.personalDataMasterKey);
  const cipher = new AesPersonalDataCipher(subjectKeys);
  const snapshots = new S3SnapshotStore({ client: s3, bucket: config.S3_BUCKET, prefix });
  const history: EventHistory = {
    readStream: async (aggregateType: string, aggregateId: string, toVersion?: number, fromVersion?: number) =>
      cipher.open((await currentStore.readStream({ aggregate_type: aggregateType, aggregate_id: aggregateId }, { toVersion, fromVersion })).map((e) => e.envelope)),
    ...(config.SNAPSHOT_EVERY > 0
      ? {
          snapshotAt: async (aggregateType: string, aggregateId: string, maxVersion: number) => {
            if ((await modeCache.state()).mode === 'legacy') return undefined;
            const snap = await snapshots.latest({ aggregate_type: aggregateType, aggregate_id: aggregateId }, maxVersion).catch(() => undefined);
            return snap && { ...snap, state: await cipher.openState(snap.state, aggregateId) };
          },
        }
      : {}),
  };
  // A gap is filled only with events the ledger holds: one it refused never reaches Kafka, so the
  // read models must not show it either (a later reconciliation projects its pending successor).
  const recordedHistory = {
    readStream: async (aggregateType: string, aggregateId: string, toVersion?: number, fromVersion?: number) => {
      const events = await history.readStream(aggregateType, aggregateId, toVersion, fromVersion);
      const recorded = new Set((await ledger.byEventIds(events.map((e) => e.event_id))).map((r) => r.eventId));
      return events.filter((e) => recorded.has(e.event_id));
    },
  };
  const projector = new ReadModelProjector(pool, readModelSchema, { history: recordedHistory });
  const search =
    config.SEARCH_ENGINE === 'opensearch'
      ? new SearchEngine(createSearchClient(config.opensearchUrl), o.searchPrefix ?? (o.schema ? `${config.OPENSEARCH_INDEX_PREFIX}-${o.schema}`.toLowerCase() : config.OPENSEARCH_INDEX_PREFIX))
      : undefined;
  // The search index is a second projection of the same events, applied in the same step: the
  // project activity finishes when both have the events, and retries (idempotently) until they do.
  const projection = instrument(
    {
      apply: async (sealed: EventEnvelope[]) => {
        const events = await cipher.open(sealed);
        return (await Promise.all([projector.apply(events), search?.projector.apply(events)]))[0];
      },
    },
    { apply: 'projection' },
  );
  const instanceStates = new PgInstanceStates(pool, readModelSchema);
  const purge: SubjectPurge = {
    async purgeInstance(erased) {
      const row = await instanceStates.replaceProperties(erased.db, erased.instance_id, erased.properties);
      if (row === undefined) return { read_model: false, search: false };
      return { read_model: true, search: search !== undefined && (await search.projector.replace(row)) };
    },
  };
  const personalData = { cipher, keys: subjectKeys, purge, bodies: new CommandBodyCipher(subjectKeys) };
  const blobs = new CommandBlobStore({ client: s3, bucket: config.S3_BUCKET, endpoint: config.s3Endpoint, prefix });

  return {
    config,
    pool,
    ownerPool,
    s3,
    s3Store,
    legacyStore,
    eventStores,
    currentStore,
    modes,
    modeCache,
    ledger,
    kafka,
    relay,
    readModels,
    projector,
    blobs,
    topic,
    schema,
    readModelSchema,
    history,
    apiKeys: new PgApiKeyStore(pool, schema),
    auditLog: new PgAuditLog(pool, schema),
    search,
    personalData,
    activityDeps: () => ({
      eventStores,
      appendedEvents: new AppendedEventReader(s3Store, legacyStore),
      blobs,
      ledger,
      relay,
      projector: projection,
      context: readModels,
      snapshots,
      snapshotEvery: config.SNAPSHOT_EVERY,
      personalData,
    }),
    rebuildDeps: () => ({
      eventStore: currentStore,
      readModels: new PgReadModelRebuild({ pool, ownerPool }, readModelSchema, history),
      liveSchema: readModelSchema,
      personalData: cipher,
      ...(search ? { searchProjectorFor: (targets: readonly string[]) => search.rebuildProjector(targets) } : {}),
    }),
    reconcileDeps: () => ({
      checkpoints: new PgCheckpointStore(pool, schema),
      eventStore: currentStore,
      behindProjection: async (cursor, o) => {
        const r = await ledger.behindProjection(cursor ? (JSON.parse(cursor) as GlobalCursor) : START_CURSOR, { positions: `${quoteIdent(readModelSchema)}.stream_positions`, ...o });
        return { ...r, next: JSON.stringify(r.next) };
      },
      ledger,
      relay,
      projector: projection,
      readEvent: (ref) => s3Store.readEvent(ref),
    }),
    searchDeps: () =>
      search && {
        generations: search.generations,
        projector: search.projector,
        instanceStates,
        checkpoints: new PgCheckpointStore(pool, schema),
        reindexRequests: search.generations.indices,
      },
    migrationDeps: () => ({ stores: new PgS3MigrationStores({ pool, schema, legacy: legacyStore, s3: s3Store, locks }), modes, concurrency: config.MIGRATION_CONCURRENCY }),
    async close() {
      await relay.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
      await search?.close();
      await lockPool.end().catch(() => undefined);
      await ownerPool.end().catch(() => undefined);
      s3.destroy();
    },
  };
}

/**
 * The backfill under a crash: N legacy events (streams of 10) written straight into a fresh
 * schema's legacy table, the mode switched to dual_write, the backfillToS3 workflow started on a
 * worker in its own OS process, that worker SIGKILLed once a share of the events is copied, a new
 * worker started; the backfill must finish from its checkpoint (not from the start) and a verify
 * must find S3 equal to the table. Used by test/e2e/backfill-crash.e2e.test.ts (a few thousand
 * events) and by `npm run drill:backfill -- <events>` (the long run; default 1,000,000).
 */
import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../src/app/config';
import type { Infrastructure } from '../src/app/composition';
import { createS3Client } from '../src/adapters/s3/s3-client';
import { loadConfig } from '../src/app/config';
import { connectInfrastructure } from '../src/app/composition';
import { MigrationOps } from '../src/app/migration-ops';
import { Client, Connection } from '@temporalio/client';
import { startWorkerProcess } from '../test/support/worker-process';
import type { MigrationProgress } from '../src/workflows/migration';

const WORKER_START_MS = 600_000;

export interface BackfillDrillOptions {
  events: number;
  /** Kill the worker once this share of the events has been read. */
  killAt?: number;
  chunk?: number;
  rate?: number;
  /** Streams copied / compared at once (the runs' `concurrency`; the workers' MIGRATION_CONCURRENCY). */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface BackfillDrillFigures {
  events: number;
  seed_s: number;
  /** Events read by the backfill when its worker was killed, and its seconds then (the steady rate before the kill). */
  processed_at_kill: number;
  elapsed_at_kill_s: number;
  /** Events read in all: at most one chunk above `events` when nothing started over. */
  processed_total: number;
  copied: number;
  backfill_s: number;
  backfill_events_per_s: number;
  verify_s: number;
  verify_versions_per_s: number;
  verified_versions: number;
  differences: number;
  /** What the drill left behind once it cleaned up: 0 objects, 0 schemas. */
  left_behind: { s3_objects: number; schemas: number };
}

/**
 * MinIO's delete of a whole prefix in one request (`x-minio-force-delete`, what `mc rm --force`
 * sends): seconds for millions of objects, where DeleteObjects goes 1,000 keys at a time at a few
 * hundred objects/s. Other S3 servers ignore or refuse it; the listing loop below removes the rest.
 */
async function forceDeletePrefix(root: S3Client, bucket: string, prefix: string): Promise<void> {
  const cmd = new DeleteObjectCommand({ Bucket: bucket, Key: prefix });
  cmd.middlewareStack.add(
    (next) => async (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-minio-force-delete'] = 'true';
      return next(args);
    },
    { step: 'build', name: 'minioForceDelete' },
  );
  await root.send(cmd).catch(() => undefined);
}

/**
 * Removes everything the drill wrote: its schemas, its S3 prefix (a million-event run leaves
 * millions of objects) and its topic. The app's S3 user may not delete, so the prefix goes with
 * MinIO's root credentials, which only this drill and the stack use.
 */
async function dropDrillData(
  config: Config,
  infra: Infrastructure,
  spec: { schema: string; readModelSchema: string; s3Prefix: string; topic: string },
): Promise<{ deleted: number; left: BackfillDrillFigures['left_behind'] }> {
  await infra.ownerPool.query(`DROP SCHEMA IF EXISTS ${spec.schema} CASCADE; DROP SCHEMA IF EXISTS ${spec.readModelSchema} CASCADE`);
  const root = createS3Client({ ...config, S3_ACCESS_KEY: config.MINIO_ROOT_USER, S3_SECRET_KEY: config.MINIO_ROOT_PASSWORD });
  let deleted = 0;
  try {
    await forceDeletePrefix(root, config.S3_BUCKET, spec.s3Prefix);
    for (;;) {
      // Always the first page: what was deleted is gone, so no continuation token is needed.
      const page = await root.send(new ListObjectsV2Command({ Bucket: config.S3_BUCKET, Prefix: spec.s3Prefix, MaxKeys: 1000 }));
      const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
      if (keys.length === 0) break;
      const r = await root.send(new DeleteObjectsCommand({ Bucket: config.S3_BUCKET, Delete: { Objects: keys, Quiet: true } }));
      if (r.Errors?.length) throw new Error(`S3 cleanup of ${spec.s3Prefix}: ${r.Errors[0].Code} ${r.Errors[0].Message}`);
      deleted += keys.length;
    }
  } finally {
    root.destroy();
  }
  const admin = infra.kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [spec.topic] }).finally(() => admin.disconnect());
  const objectsLeft = await infra.s3.send(new ListObjectsV2Command({ Bucket: config.S3_BUCKET, Prefix: spec.s3Prefix, MaxKeys: 1000 }));
  const schemasLeft = await infra.pool.query('SELECT 1 FROM information_schema.schemata WHERE schema_name = ANY($1::text[])', [[spec.schema, spec.readModelSchema]]);
  return { deleted, left: { s3_objects: objectsLeft.KeyCount ?? 0, schemas: schemasLeft.rowCount ?? 0 } };
}

export async function runBackfillDrill(o: BackfillDrillOptions): Promise<BackfillDrillFigures> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const id = `bfdrill_${Date.now().toString(36)}_${randomBytes(2).toString('hex')}`;
  const spec = { schema: id, readModelSchema: `${id}_rm`, s3Prefix: `${id.replace(/_/g, '-')}/`, topic: id.replace(/_/g, '-'), taskQueue: id.replace(/_/g, '-'), identity: '' };
  const config = loadConfig({ ...process.env, ENABLE_S3_EVENT_STORE: 'false' });
  const infra = await connectInfrastructure(config, { schema: spec.schema, readModelSchema: spec.readModelSchema, s3Prefix: spec.s3Prefix, topic: spec.topic });
  const connection = await Connection.connect({ address: config.temporalAddress });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const ops = new MigrationOps({ modes: infra.modes, client, taskQueue: spec.taskQueue, propagationMs: 0 });
  const workerEnv = o.concurrency ? { MIGRATION_CONCURRENCY: String(o.concurrency) } : {};
  // A worker bundles the workflow code at start: minutes on a loaded 2-core machine.
  const startWorker = (identity: string) => startWorkerProcess({ ...spec, identity }, WORKER_START_MS, workerEnv);
  let worker: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
  let figures: Omit<BackfillDrillFigures, 'left_behind'>;
  let cleanup: Awaited<ReturnType<typeof dropDrillData>> | undefined;
  try {
    worker = await startWorker('backfill-worker-1');
    const seedStart = Date.now();
    await infra.pool.query(
      `INSERT INTO ${spec.schema}.legacy_events (event_id, aggregate_type, aggregate_id, aggregate_version, event_type, payload, metadata, occurred_at)
       SELECT md5($2 || g)::uuid::text, 'instance', 'bf:i' || (g / 10), (g % 10) + 1,
              CASE WHEN g % 10 = 0 THEN 'INSTANCE_CREATED' ELSE 'INSTANCE_UPDATED' END,
              jsonb_build_object('db_name', 'bf', 'instance_id', 'i' || (g / 10), 'properties', jsonb_build_object('n', g)),
              '{"storage_mode": "legacy", "actor": "legacy-system"}', now() - interval '1 day' + g * interval '1 ms'
       FROM generate_series(0, $1 - 1) g`,
      [o.events, id],
    );
    const seed_s = (Date.now() - seedStart) / 1000;
    log(`seeded ${o.events} legacy events in ${seed_s.toFixed(1)} s`);
    await ops.setMode({ to: 'dual_write', actor: 'backfill-drill', reason: 'backfill drill' });

    await ops.start('backfill', { chunk_size: o.chunk ?? 1000, events_per_second: o.rate, concurrency: o.concurrency });
    const killAt = Math.floor(o.events * (o.killAt ?? 0.4));
    let atKill = 0;
    let elapsedAtKill = 0;
    for (;;) {
      const p = (await ops.status('backfill'))?.progress;
      if (p && p.processed >= killAt) {
        atKill = p.processed;
        elapsedAtKill = p.elapsed_s;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    log(`SIGKILL worker ${worker.pid} at ${atKill} events read`);
    await worker.kill();
    worker = undefined;
    worker = await startWorker('backfill-worker-2');
    const done: MigrationProgress = await ops.result('backfill');
    log(`backfill done: ${done.copied} copied, ${done.processed} read, ${done.elapsed_s.toFixed(1)} s`);
    await ops.start('verify', { target: 's3', concurrency: o.concurrency });
    const verified = await ops.result('verify');
    const differences = Object.values(verified.differences ?? {}).reduce((a, b) => a + (b ?? 0), 0);
    log(`verify: ${verified.processed} versions, ${verified.streams} streams, ${differences} differences, ${verified.elapsed_s.toFixed(1)} s`);
    figures = {
      events: o.events,
      seed_s,
      processed_at_kill: atKill,
      elapsed_at_kill_s: elapsedAtKill,
      processed_total: done.processed,
      copied: done.copied,
      backfill_s: done.elapsed_s,
      // Every event read was copied or found already copied (the chunk a killed worker had done).
      backfill_events_per_s: Math.round(done.processed / done.elapsed_s),
      verify_s: verified.elapsed_s,
      verify_versions_per_s: Math.round(verified.processed / verified.elapsed_s),
      verified_versions: verified.processed,
      differences,
    };
  } finally {
    await worker?.stop();
    await connection.close();
    cleanup = await dropDrillData(config, infra, spec).catch((err) => {
      log(`cleanup failed (remove ${spec.schema}*, s3://${config.S3_BUCKET}/${spec.s3Prefix}, topic ${spec.topic} by hand): ${String(err)}`);
      return undefined;
    });
    if (cleanup) log(`cleaned up: schemas ${spec.schema}, ${spec.readModelSchema}; S3 prefix ${spec.s3Prefix} (${cleanup.deleted} objects left to a listed delete); topic ${spec.topic}`);
    await infra.close();
  }
  return { ...figures, left_behind: cleanup?.left ?? { s3_objects: -1, schemas: -1 } };
}

if (require.main === module) {
  const events = Number(process.argv[2] ?? 1_000_000);
  const rate = process.argv[3] && process.argv[3] !== '-' ? Number(process.argv[3]) : undefined;
  const concurrency = process.argv[4] ? Number(process.argv[4]) : undefined;
  runBackfillDrill({ events, rate, concurrency }).then(
    (f) => {
      process.stdout.write(`${JSON.stringify(f, null, 2)}\n`);
      process.exit(f.differences === 0 && f.verified_versions === events ? 0 : 1);
    },
    (err) => {
      process.stderr.write(`backfill drill: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}

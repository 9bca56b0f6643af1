/**
 * What a run created for itself goes at its end (unless --keep): its PostgreSQL databases, its
 * buckets and its Kafka topics, all named after the run (options.ts). Left behind, every full run
 * kept a database, a bucket of 100,000+ objects and five topics on the developer's stack.
 */
import { DeleteBucketCommand, ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Kafka } from 'kafkajs';
import { Pool } from 'pg';
import { BUCKET, KEEP, PG_DB, RUN, base } from './options';

/** MinIO deletes a bucket with its objects in one request when asked to (`mc rb --force` sends the same header). */
async function forceDeleteBucket(s3: S3Client, bucket: string): Promise<void> {
  const cmd = new DeleteBucketCommand({ Bucket: bucket });
  cmd.middlewareStack.add(
    (next) => async (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-minio-force-delete'] = 'true';
      return next(args);
    },
    { step: 'build', name: 'minioForceDelete' },
  );
  await s3.send(cmd);
}

/** Removes the run's resources; returns what it could not remove (reported, never fatal). */
export async function dropRunResources(s3: S3Client, kafka: Kafka): Promise<string[]> {
  if (KEEP) return [];
  const failed: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>) => fn().catch((err: Error) => failed.push(`${what}: ${err.message}`));
  const admin = new Pool({ connectionString: base.databaseOwnerUrl, max: 1 });
  try {
    const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`, [PG_DB, `${PG_DB}\\_%`]);
    for (const { datname } of rows) await attempt(`database ${datname}`, () => admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`));
  } finally {
    await admin.end();
  }
  const buckets = ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name!).filter((b) => b === BUCKET || b.startsWith(`${BUCKET}-`));
  for (const b of buckets) await attempt(`bucket ${b}`, () => forceDeleteBucket(s3, b));
  const kafkaAdmin = kafka.admin();
  await attempt('topics', async () => {
    await kafkaAdmin.connect();
    const topics = (await kafkaAdmin.listTopics()).filter((t) => t.startsWith(`bench-${RUN}-`));
    if (topics.length) await kafkaAdmin.deleteTopics({ topics });
  });
  await kafkaAdmin.disconnect().catch(() => undefined);
  return failed;
}

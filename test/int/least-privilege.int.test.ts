/**
 * The application's S3 credentials are the stack's app user (scripts/stack/minio-app-user.ts), not
 * MinIO's root: they read and write the bucket's objects and cannot delete one (the event store is
 * append-only), which MinIO answers with 403.
 */
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/adapters/s3/s3-client';
import { testConfig, uniqueName } from '../support/env';

const s3 = createS3Client(testConfig);
const Bucket = testConfig.S3_BUCKET;
const Key = `${uniqueName('least-privilege')}/events/2026/01/01/instance/db%3Aa/e1.json`;

afterAll(() => s3.destroy());

async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode ?? 0;
    throw err;
  }
}

test('the app user is not the root user', () => {
  expect(testConfig.S3_ACCESS_KEY).not.toBe(testConfig.MINIO_ROOT_USER);
});

test('the application writes and reads an event object but gets 403 deleting it, and the object stays', async () => {
  await s3.send(new PutObjectCommand({ Bucket, Key, Body: '{"event_id":"e1"}', IfNoneMatch: '*' }));
  expect(await statusOf(s3.send(new DeleteObjectCommand({ Bucket, Key })))).toBe(403);
  // The batch form answers 200 with a per-key error: nothing is deleted either.
  const batch = await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key }] } }));
  expect(batch.Deleted ?? []).toEqual([]);
  expect(batch.Errors?.[0]?.Code).toBe('AccessDenied');
  const read = await s3.send(new GetObjectCommand({ Bucket, Key }));
  expect(await read.Body!.transformToString()).toBe('{"event_id":"e1"}');
});

test('the app user reaches its bucket only', async () => {
  expect(await statusOf(s3.send(new PutObjectCommand({ Bucket: 'spice-other-bucket', Key: 'x', Body: 'x' })))).toBe(403);
});

test("with S3_CREDENTIALS=default-chain the client takes the SDK's credential chain (here the environment's), not the configured keys", async () => {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = testConfig.S3_ACCESS_KEY;
  process.env.AWS_SECRET_ACCESS_KEY = testConfig.S3_SECRET_KEY;
  // Wrong static keys: had the client used them, MinIO would refuse the write.
  const chained = createS3Client({ ...testConfig, S3_ACCESS_KEY: 'not-a-user', S3_SECRET_KEY: 'not-a-secret', S3_CREDENTIALS: 'default-chain' });
  const staticKeys = createS3Client({ ...testConfig, S3_ACCESS_KEY: 'not-a-user', S3_SECRET_KEY: 'not-a-secret' });
  try {
    const key = `${Key}.chain`;
    await chained.send(new PutObjectCommand({ Bucket, Key: key, Body: 'chain' }));
    const read = await s3.send(new GetObjectCommand({ Bucket, Key: key }));
    expect(await read.Body!.transformToString()).toBe('chain');
    expect(await statusOf(staticKeys.send(new PutObjectCommand({ Bucket, Key: `${Key}.static`, Body: 'static' })))).toBe(403);
  } finally {
    chained.destroy();
    staticKeys.destroy();
    for (const [k, v] of [
      ['AWS_ACCESS_KEY_ID', saved.id],
      ['AWS_SECRET_ACCESS_KEY', saved.secret],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

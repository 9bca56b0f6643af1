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

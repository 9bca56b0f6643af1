/**
 * CommandBlobStore's streamed upload against the real MinIO: a body refused midway (a bad item after
 * good ones) leaves nothing at its key, small or large; a completed one is readable whole.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { CommandBlobStore } from '../../src/adapters/s3/command-blobs';
import { createS3Client } from '../../src/adapters/s3/s3-client';
import { testConfig, uniqueName } from '../support/env';

const client = createS3Client(testConfig);
const blobs = new CommandBlobStore({ client, bucket: testConfig.S3_BUCKET, endpoint: testConfig.s3Endpoint, prefix: `${uniqueName('blobs')}/` });
afterAll(() => client.destroy());

async function exists(key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: testConfig.S3_BUCKET, Key: key }));
    return true;
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

test.each([
  ['a small body (one PUT would carry it)', 1, 100],
  ['a body of several parts', 3, 3 * 1024 * 1024],
])('%s aborted midway leaves nothing at its key', async (_what, pieces, size) => {
  const ref = blobs.bodyOf(uniqueName('cmd'), 'abcdef0123456789');
  const upload = blobs.openUpload(ref);
  for (let i = 0; i < pieces; i++) await upload.write('x'.repeat(size));
  await upload.abort();
  await new Promise((r) => setTimeout(r, 500)); // anything still in flight would land meanwhile
  expect(await exists(ref.key)).toBe(false);
});

test('a completed body is readable whole', async () => {
  const ref = blobs.bodyOf(uniqueName('cmd'), 'abcdef0123456789');
  const upload = blobs.openUpload(ref);
  await upload.write('{"a":');
  await upload.write('1}');
  await upload.complete();
  expect(await blobs.getJson(ref)).toEqual({ a: 1 });
});

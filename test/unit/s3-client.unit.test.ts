/** Addressing of the S3 client: path style for MinIO (the default), virtual-hosted style for AWS when configured. */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/adapters/s3/s3-client';
import { loadConfig } from '../../src/app/config';

/** The host and path the client would send GET bucket/key to, caught before it leaves the process. */
async function requestTarget(env: NodeJS.ProcessEnv): Promise<string> {
  const client = createS3Client(loadConfig({ S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com', S3_ACCESS_KEY: 'AKIAEXAMPLE', S3_SECRET_KEY: 'example-secret', ...env }));
  let target = '';
  client.middlewareStack.add(
    () => async (args) => {
      const req = args.request as { hostname: string; path: string };
      target = `${req.hostname}${req.path}`;
      throw new Error('caught');
    },
    { step: 'finalizeRequest', priority: 'low' },
  );
  await expect(client.send(new GetObjectCommand({ Bucket: 'spice-event-store', Key: 'events/e1.json' }))).rejects.toThrow('caught');
  client.destroy();
  return target;
}

test('path style by default: the bucket is in the path', async () => {
  expect(await requestTarget({})).toBe('s3.eu-west-1.amazonaws.com/spice-event-store/events/e1.json');
});

test('S3_FORCE_PATH_STYLE=false: the bucket is in the host name', async () => {
  expect(await requestTarget({ S3_FORCE_PATH_STYLE: 'false' })).toBe('spice-event-store.s3.eu-west-1.amazonaws.com/events/e1.json');
});

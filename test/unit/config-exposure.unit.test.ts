/** Built-in development credentials are refused as soon as an endpoint they guard leaves loopback. */
import { ConfigError, isLoopback, loadConfig } from '../../src/app/config';

const refusal = (env: NodeJS.ProcessEnv): string => {
  try {
    loadConfig(env);
    return 'started';
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
};

test('the defaults start: everything on loopback, each service bound apart from the client address', () => {
  const c = loadConfig({});
  expect([c.API_BIND_HOST, c.TEMPORAL_BIND_HOST, c.TEMPORAL_UI_BIND_HOST, c.MINIO_BIND_HOST, c.MINIO_CONSOLE_BIND_HOST, c.KAFKA_BIND_HOST, c.PG_BIND_HOST]).toEqual(Array(7).fill('127.0.0.1'));
  expect(c.S3_ACCESS_KEY).not.toBe(c.MINIO_ROOT_USER);
  expect(c.API_AUTH).toBe('on');
});

test('publishing the API with the dev key secret, dev key or auth off is refused in one line naming them', () => {
  const msg = refusal({ API_BIND_HOST: '0.0.0.0' });
  expect(msg).toMatch(/^refusing to start: .*API_KEY_SECRET with API_BIND_HOST=0\.0\.0\.0; API_DEV_KEY \(set it empty\) with API_BIND_HOST=0\.0\.0\.0/);
  expect(msg).not.toContain('\n');
  expect(refusal({ API_BIND_HOST: '0.0.0.0', API_KEY_SECRET: 'a-real-secret-of-ours', API_DEV_KEY: '' })).toBe('started');
  expect(refusal({ API_BIND_HOST: '0.0.0.0', API_KEY_SECRET: 'a-real-secret-of-ours', API_DEV_KEY: '', API_AUTH: 'off' })).toMatch(/API_AUTH=off with API_BIND_HOST=0\.0\.0\.0/);
});

test('each service credential is refused off loopback, and only where it guards something', () => {
  expect(refusal({ MINIO_CONSOLE_BIND_HOST: '0.0.0.0' })).toMatch(/MINIO_ROOT_PASSWORD with MINIO_CONSOLE_BIND_HOST=0\.0\.0\.0/);
  expect(refusal({ S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com' })).toMatch(/S3_SECRET_KEY with S3_ENDPOINT=s3\.eu-west-1\.amazonaws\.com/);
  expect(refusal({ S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com', S3_ACCESS_KEY: 'AKIAEXAMPLE', S3_SECRET_KEY: 'example-secret' })).toBe('started');
  // With IAM roles (the SDK's default credential chain) no key of ours is in use, so none is refused.
  expect(refusal({ S3_ENDPOINT: 'https://s3.eu-west-1.amazonaws.com', S3_CREDENTIALS: 'default-chain' })).toBe('started');
  expect(refusal({ PG_BIND_HOST: '10.0.0.5' })).toMatch(/PG_PASSWORD with PG_BIND_HOST=10\.0\.0\.5; PG_APP_PASSWORD with PG_BIND_HOST=10\.0\.0\.5/);
  // Each PostgreSQL password is refused until the URL that would carry it is given.
  expect(refusal({ SPICE_HOST: 'db.internal', PG_PASSWORD: 'owner-secret' })).toMatch(/: PG_APP_PASSWORD with SPICE_HOST=db\.internal;/);
  expect(refusal({ SPICE_HOST: 'db.internal', PG_APP_PASSWORD: 'app-secret' })).toMatch(/: PG_PASSWORD with SPICE_HOST=db\.internal;/);
  expect(refusal({ SPICE_HOST: 'db.internal', PG_APP_PASSWORD: 'app-secret', DATABASE_OWNER_URL: 'postgres://o:p@db.internal/spice' })).not.toMatch(/PG_/);
  // The wrapped data keys of personal data live in PostgreSQL, wherever DATABASE_URL points.
  expect(refusal({ DATABASE_URL: 'postgres://u:p@db.example.com/spice' })).toMatch(/endpoint: PERSONAL_DATA_MASTER_KEY with DATABASE_URL=db\.example\.com; set your own/);
  expect(refusal({ DATABASE_URL: 'postgres://u:p@db.example.com/spice', PERSONAL_DATA_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') })).toBe('started');
  expect(refusal({ PERSONAL_DATA_MASTER_KEY: 'too-short' })).toMatch(/^invalid configuration: PERSONAL_DATA_MASTER_KEY: 32 bytes in base64/);
  // Temporal and Kafka have no credentials of ours: binding them off loopback is an explicit choice.
  expect(refusal({ TEMPORAL_UI_BIND_HOST: '0.0.0.0', KAFKA_BIND_HOST: '0.0.0.0' })).toBe('started');
});

test('loopback', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect([h, isLoopback(h)]).toEqual([h, true]);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', 'api.example.com', '128.0.0.1']) expect([h, isLoopback(h)]).toEqual([h, false]);
});

test('the processes connect as the app role and migrate as the owner; one DATABASE_URL alone does both', () => {
  const c = loadConfig({});
  expect(new URL(c.databaseUrl).username).toBe('spice_app');
  expect(new URL(c.databaseOwnerUrl).username).toBe('spice');
  expect(new URL(c.databaseUrl).password).toBe('spice-app');
  const split = loadConfig({ DATABASE_URL: 'postgres://app:a@127.0.0.1/db', DATABASE_OWNER_URL: 'postgres://own:o@127.0.0.1/db' });
  expect([split.databaseUrl, split.databaseOwnerUrl]).toEqual(['postgres://app:a@127.0.0.1/db', 'postgres://own:o@127.0.0.1/db']);
  const one = loadConfig({ DATABASE_URL: 'postgres://one:x@127.0.0.1/db' });
  expect(one.databaseOwnerUrl).toBe(one.databaseUrl);
});

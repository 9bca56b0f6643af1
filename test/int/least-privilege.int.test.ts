/**
 * The application's S3 credentials are the stack's app user (scripts/stack/minio-app-user.ts), not
 * MinIO's root: they read and write the bucket's objects and cannot delete one (the event store is
 * append-only), which MinIO answers with 403. Its PostgreSQL role (DATABASE_URL, the stack's
 * PG_APP_USER) reads and writes rows of the migrated schemas and can change none of them: only the
 * owner (DATABASE_OWNER_URL) migrates (README "Least privilege").
 */
import { DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/adapters/s3/s3-client';
import { createOwnerPool, createPool } from '../../src/adapters/postgres/postgres';
import { migrate } from '../../src/adapters/postgres/migrations';
import { grantToRuntimeRole } from '../../src/adapters/postgres/runtime-role';
import { testConfig, uniqueName } from '../support/env';
import { startPipeline } from '../support/pipeline';

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

describe('PostgreSQL: the app role', () => {
  const schema = uniqueName('least_privilege').replace(/-/g, '_');
  const table = `${schema}.reconciler_checkpoints`;
  const owner = createOwnerPool(testConfig);
  const app = createPool(testConfig, { max: 2 });
  const roleOf = async (pool: typeof app) => (await pool.query<{ role: string }>('SELECT current_user AS role')).rows[0].role;

  beforeAll(async () => {
    // As a process starts: the owner grants, then migrates.
    await grantToRuntimeRole(owner, app, [schema]);
    await migrate(owner, schema);
  });
  afterAll(async () => {
    await owner.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await Promise.all([owner.end(), app.end()]);
  });

  test('the runtime URL logs in as the app role, the owner URL as the owner', async () => {
    expect(await roleOf(app)).toBe(testConfig.PG_APP_USER);
    expect(await roleOf(owner)).toBe(testConfig.PG_USER);
    expect(testConfig.PG_APP_USER).not.toBe(testConfig.PG_USER);
  });

  test('it inserts, selects, updates and deletes rows of a migrated table', async () => {
    await app.query(`INSERT INTO ${table} (name, checkpoint) VALUES ('lp', 'a')`);
    await app.query(`UPDATE ${table} SET checkpoint = 'b' WHERE name = 'lp'`);
    expect((await app.query(`SELECT checkpoint FROM ${table} WHERE name = 'lp'`)).rows).toEqual([{ checkpoint: 'b' }]);
    await app.query(`DELETE FROM ${table} WHERE name = 'lp'`);
    expect((await app.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n).toBe(0);
  });

  test.each([
    ['DROP TABLE', `DROP TABLE ${table}`],
    ['ALTER TABLE ADD COLUMN', `ALTER TABLE ${table} ADD COLUMN extra integer`],
    ['CREATE INDEX', `CREATE INDEX lp_extra ON ${table} (checkpoint)`],
    ['TRUNCATE', `TRUNCATE ${table}`],
    ['CREATE TABLE in the schema', `CREATE TABLE ${schema}.extra (x integer)`],
    ['DROP SCHEMA', `DROP SCHEMA ${schema} CASCADE`],
    ['CREATE SCHEMA', `CREATE SCHEMA ${schema}_extra`],
  ])('%s fails with insufficient_privilege (42501)', async (_, sql) => {
    await expect(app.query(sql)).rejects.toMatchObject({ code: '42501' });
  });

  test('after those attempts the table is as migrated', async () => {
    const columns = await owner.query(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'reconciler_checkpoints' ORDER BY column_name`, [schema]);
    expect(columns.rows.map((r) => r.column_name)).toEqual(['checkpoint', 'name', 'updated_at']);
  });

  test("a running pipeline's processes serve with the app role, and only its owner pool is the owner", async () => {
    const p = await startPipeline('least-privilege', testConfig, { worker: false });
    try {
      expect(await roleOf(p.api.infra.pool)).toBe(testConfig.PG_APP_USER);
      expect(await roleOf(p.api.infra.ownerPool)).toBe(testConfig.PG_USER);
      // It reads what its start migrated, through its own pool.
      expect(await p.ledgerRows()).toEqual([]);
      await expect(p.api.infra.pool.query(`DROP TABLE ${p.api.infra.schema}.delivery_ledger`)).rejects.toMatchObject({ code: '42501' });
    } finally {
      await p.close();
    }
  }, 120_000);
});

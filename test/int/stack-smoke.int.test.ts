/**
 * Proves the stack: one Temporal workflow whose activities write to MinIO with a conditional PUT,
 * insert a PostgreSQL row and publish to Kafka; a kafkajs consumer then reads the message back.
 */
import { randomUUID } from 'node:crypto';
import { S3Client, CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { Pool } from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { testConfig as cfg, uniqueName, eventually } from '../support/env';
import { createSmokeActivities } from './smoke/smoke.activities';
import { smokeWorkflow } from './smoke/smoke.workflow';

const s3 = new S3Client({
  endpoint: cfg.s3Endpoint,
  region: cfg.S3_REGION,
  forcePathStyle: true,
  // The stack's own check makes a bucket of its own, which only MinIO's root may do: the
  // application's user is limited to the event-store bucket (README "Least privilege").
  credentials: { accessKeyId: cfg.MINIO_ROOT_USER, secretAccessKey: cfg.MINIO_ROOT_PASSWORD },
});
const bucket = 'spice-smoke';
const schema = uniqueName('smoke').replace(/-/g, '_');
const table = `${schema}.smoke`;
const topic = uniqueName('smoke');
const pool = new Pool({ connectionString: cfg.databaseOwnerUrl, max: 2 });
const kafka = new Kafka({ brokers: cfg.kafkaBrokers, logLevel: logLevel.NOTHING, clientId: 'smoke-test' });
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });

beforeAll(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((e: S3ServiceException) => {
    if (e.name !== 'BucketAlreadyOwnedByYou' && e.name !== 'BucketAlreadyExists') throw e;
  });
  await pool.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${table} (n bigserial, id text PRIMARY KEY)`);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  await producer.connect();
});

afterAll(async () => {
  await producer.disconnect();
  await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await pool.end();
  s3.destroy();
});

test('a workflow reaches MinIO, PostgreSQL and Kafka, and a consumer reads the message back', async () => {
  const id = randomUUID();
  const taskQueue = uniqueName('smoke');
  const nativeConnection = await NativeConnection.connect({ address: cfg.temporalAddress });
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace: cfg.TEMPORAL_NAMESPACE,
    taskQueue,
    workflowsPath: require.resolve('./smoke/smoke.workflow'),
    activities: createSmokeActivities({ s3, bucket, pool, table, producer, topic }),
  });
  const connection = await Connection.connect({ address: cfg.temporalAddress });
  const client = new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE });
  try {
    const result = await worker.runUntil(client.workflow.execute(smokeWorkflow, { taskQueue, workflowId: `smoke-${id}`, args: [id] }));

    // MinIO: the object is there, and the conditional write really is conditional.
    const obj = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `smoke/${id}.json` }));
    expect(JSON.parse(await obj.Body!.transformToString())).toEqual({ id });
    expect(obj.ETag).toBe(result.etag);
    await expect(s3.send(new PutObjectCommand({ Bucket: bucket, Key: `smoke/${id}.json`, Body: 'other', IfNoneMatch: '*' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });

    // PostgreSQL: the row the activity inserted.
    const rows = await pool.query(`SELECT n, id FROM ${table}`);
    expect(rows.rows).toEqual([{ n: String(result.row), id }]);

    // Kafka: a real consumer reads the message back from the offset the producer was given.
    const consumer = kafka.consumer({ groupId: uniqueName('smoke') });
    const seen: Array<{ key: string; value: string; offset: string }> = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push({ key: String(message.key), value: String(message.value), offset: message.offset });
      },
    });
    await eventually(
      async () => seen.length,
      (n) => n >= 1,
      30_000,
    );
    await consumer.disconnect();
    expect(seen).toEqual([{ key: id, value: JSON.stringify({ id }), offset: result.offset }]);

    // Temporal: the run is listed as completed.
    const desc = await client.workflow.getHandle(`smoke-${id}`).describe();
    expect(desc.status.name).toBe('COMPLETED');
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
});

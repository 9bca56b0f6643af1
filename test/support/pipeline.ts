/**
 * The whole pipeline for end-to-end tests, isolated per test file: its own PostgreSQL schemas, S3
 * key prefix, Kafka topic and Temporal task queue, with a real worker, the real API on an
 * ephemeral port and a real Kafka consumer recording what arrives.
 */
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import type { Consumer, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { listKeys } from '../../src/adapters/s3/s3-client';
import { createCommandWorker } from '../../src/app/command-worker';
import { WORKFLOW_BUNDLE_OPTIONS } from '../../src/app/workflows-path';
import { startApi, RunningApi } from '../../src/app/api-server';
import type { Config } from '../../src/app/config';
import type { ActivityDeps } from '../../src/activities';
import { testConfig, uniqueName, eventually } from './env';
import { bearer, useApiKey } from './http';

export interface ConsumedMessage {
  key: string;
  headers: Record<string, string>;
  value: any;
  partition: number;
  offset: string;
}

export interface Pipeline {
  /** What names its schemas, prefix, topic and task queue. */
  id: string;
  api: RunningApi;
  url: string;
  /**
   * API keys made for this pipeline: `writer` (every database; sendJson sends it by itself) and
   * `admin` (for /admin routes). `auth` is the writer's header, for raw fetch and http calls.
   */
  keys: { writer: string; admin: string };
  auth: Record<string, string>;
  /** The pipeline's worker; undefined with `worker: false`. */
  worker: Worker;
  client: Client;
  taskQueue: string;
  prefix: string;
  messages: ConsumedMessage[];
  /** Object keys under this pipeline's prefix. */
  s3Keys(sub?: string): Promise<string[]>;
  ledgerRows(where?: string, params?: unknown[]): Promise<any[]>;
  messagesFor(aggregateId: string): ConsumedMessage[];
  /** The stream's versions in the order Kafka delivered them, each event id counted at its first delivery. */
  versionsDelivered(aggregateId: string): number[];
  waitForMessages(n: number, timeoutMs?: number): Promise<void>;
  /** `keep`: leave the schemas and search indices in place (a later pipeline with this `id` goes on with them). */
  close(o?: { keep?: boolean }): Promise<void>;
}

let bundle: Promise<Awaited<ReturnType<typeof bundleWorkflowCode>>> | undefined;
/** One webpack bundle of the workflow code per jest process: bundling takes seconds. */
export function workflowBundle() {
  bundle ??= bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error } as never });
  return bundle;
}

export interface PipelineOptions {
  /** The API's logger, e.g. to read what it logged under a request id. */
  apiLogger?: Logger;
  /** Wraps the worker's adapters, e.g. to make one of them fail for a while. */
  wrapDeps?: (deps: ActivityDeps) => ActivityDeps;
  /** false: the pipeline runs no worker of its own (the test runs its own, e.g. versioned ones). */
  worker?: boolean;
  /** The names of an earlier pipeline (its `id`): the same schemas, prefix, topic and task queue, e.g. after a recovery. */
  id?: string;
}

export async function startPipeline(name: string, config: Config = testConfig, options: PipelineOptions = {}): Promise<Pipeline> {
  const id = options.id ?? uniqueName(name);
  const schema = id.replace(/-/g, '_');
  const taskQueue = id;
  const prefix = `${id}/`;
  const api = await startApi(config, {
    schema,
    readModelSchema: `${schema}_rm`,
    s3Prefix: prefix,
    topic: id,
    port: 0,
    taskQueue,
    ...(options.apiLogger ? { logger: options.apiLogger } : {}),
  });
  const infra = api.infra;
  await infra.relay.start();
  const nativeConnection = await NativeConnection.connect({ address: config.temporalAddress });
  const worker =
    options.worker === false
      ? undefined
      : await createCommandWorker({
          connection: nativeConnection,
          namespace: config.TEMPORAL_NAMESPACE,
          taskQueue,
          deps: options.wrapDeps ? options.wrapDeps(infra.activityDeps()) : infra.activityDeps(),
          rebuild: infra.rebuildDeps(),
          reconcile: infra.reconcileDeps(),
          search: infra.searchDeps(),
          migration: infra.migrationDeps(),
          workflowBundle: await workflowBundle(),
        });
  const running = worker?.run() ?? Promise.resolve();
  const connection = await Connection.connect({ address: config.temporalAddress });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });

  const messages: ConsumedMessage[] = [];
  // Outage tests pause Kafka: kafkajs gives up on some errors met while the broker comes back
  // (e.g. group coordinator not found), and a consumer that stays down would miss what follows.
  const consumer: Consumer = infra.kafka.consumer({ groupId: `${id}-test`, maxWaitTimeInMs: 50, retry: { restartOnFailure: async () => true } });
  await consumer.connect();
  await consumer.subscribe({ topic: infra.topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message, partition }: { message: KafkaMessage; partition: number }) => {
      messages.push({
        key: String(message.key),
        headers: Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])),
        value: JSON.parse(String(message.value)),
        partition,
        offset: message.offset,
      });
    },
  });

  const url = `${api.url}/api/v1`;
  const keys = {
    writer: (await api.keys.create({ name: `${id}-writer`, role: 'writer', created_by: 'test' })).key,
    admin: (await api.keys.create({ name: `${id}-admin`, role: 'admin', created_by: 'test' })).key,
  };
  useApiKey(url, keys.writer);
  useApiKey(api.url, keys.writer);

  return {
    id,
    api,
    url,
    keys,
    auth: bearer(keys.writer),
    worker: worker!,
    client,
    taskQueue,
    prefix,
    messages,
    async s3Keys(sub = '') {
      const { objects } = await listKeys(infra.s3, config.S3_BUCKET, `${prefix}${sub}`);
      return objects.map((o) => o.Key!.slice(prefix.length));
    },
    async ledgerRows(where = 'true', params: unknown[] = []) {
      const r = await infra.pool.query(`SELECT * FROM ${schema}.delivery_ledger WHERE ${where} ORDER BY position`, params);
      return r.rows;
    },
    messagesFor(aggregateId: string) {
      return messages.filter((m) => m.key === aggregateId);
    },
    versionsDelivered(aggregateId: string) {
      const seen = new Set<string>();
      return messages.filter((m) => m.key === aggregateId && !seen.has(m.headers['event-id']) && seen.add(m.headers['event-id'])).map((m) => Number(m.headers['aggregate-version']));
    },
    async waitForMessages(n: number, timeoutMs = 30_000) {
      await eventually(
        async () => messages.length,
        (len) => len >= n,
        timeoutMs,
      );
    },
    async close({ keep = false } = {}) {
      useApiKey(url, undefined);
      useApiKey(api.url, undefined);
      await consumer.disconnect().catch(() => undefined);
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await nativeConnection.close();
      await connection.close();
      if (!keep) {
        await infra.ownerPool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_rm CASCADE`).catch(() => undefined);
        await infra.search?.dropAll().catch(() => undefined);
      }
      await api.close();
    },
  };
}

/**
 * How much the pipeline holds in each place (S3 objects, ledger rows, Kafka messages, read-model
 * rows, workflows on its task queue): a refused request must leave every count as it was.
 */
export async function storedCounts(p: Pipeline) {
  // Let any in-flight delivery land before counting, so a change would be seen.
  await new Promise((r) => setTimeout(r, 300));
  const rm = p.api.infra.readModelSchema;
  const { rows } = await p.api.infra.pool.query(
    `SELECT (SELECT count(*) FROM ${rm}.databases) + (SELECT count(*) FROM ${rm}.classes) + (SELECT count(*) FROM ${rm}.instances)
          + (SELECT count(*) FROM ${rm}.edges) + (SELECT count(*) FROM ${rm}.stream_positions) AS n`,
  );
  return {
    s3: (await p.s3Keys('')).length,
    ledger: (await p.ledgerRows()).length,
    kafka: p.messages.length,
    readModels: Number(rows[0].n),
    commands: (await p.client.workflow.count(`TaskQueue = '${p.taskQueue}'`)).count,
  };
}

/**
 * The one place that reads the environment. Every port, credential and switch of spice-oms is
 * declared here with its default, validated at start, and documented in .env.example.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { storageModeOf, type StorageMode } from '../contracts/storage-mode';
import type { InputLimits } from '../contracts/input-limits';

const port = z.coerce.number().int().min(1).max(65535);
const LOOPBACK = '127.0.0.1';
const host = z
  .string()
  .min(1)
  .regex(/^[A-Za-z0-9.:[\]-]+$/, 'a host name or IP address');

/**
 * The built-in development credentials: convenient on one machine, refused as soon as any
 * endpoint is configured off loopback (see devCredentialExposures).
 */
export const DEV_CREDENTIALS = {
  MINIO_ROOT_USER: 'spiceadmin',
  MINIO_ROOT_PASSWORD: 'spice-secret-key',
  S3_ACCESS_KEY: 'spice-app',
  S3_SECRET_KEY: 'spice-app-secret-key',
  PG_PASSWORD: 'spice',
  PG_APP_PASSWORD: 'spice-app',
  API_KEY_SECRET: 'spice-dev-api-key-secret',
  API_DEV_KEY: 'spk_dev_local-development-only',
  PERSONAL_DATA_MASTER_KEY: 'c3BpY2Utb21zLWRldi1wZXJzb25hbC1kYXRhLWtleSE',
} as const;
const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const BYTE_UNITS = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 } as const;
const MIN_BODY_LIMIT = 1024;
const MAX_BODY_LIMIT = 1024 ** 3;

/**
 * "25mb" -> 26214400. The unit is required: express would read a bare "25" as 25 bytes and an
 * unknown unit ("25m", "25 MiB") as no limit at all, both silently.
 */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d{1,10}(?:\.\d{1,3})?)\s*(b|kb|mb|gb)\s*$/i.exec(text);
  if (m === null) return undefined;
  return Math.floor(Number(m[1]) * BYTE_UNITS[m[2].toLowerCase() as keyof typeof BYTE_UNITS]);
}

const byteSize = z.string().superRefine((text, ctx) => {
  const bytes = parseByteSize(text);
  if (bytes === undefined) ctx.addIssue({ code: 'custom', message: `'${text}' is not a size with a unit, e.g. 512kb, 25mb, 1gb (units b, kb, mb, gb)` });
  else if (bytes < MIN_BODY_LIMIT || bytes > MAX_BODY_LIMIT) ctx.addIssue({ code: 'custom', message: `'${text}' must be from 1kb to 1gb` });
});
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

export const configSchema = z.object({
  // Stack: where services, binaries and data live (outside the repository, keyed by version).
  SPICE_CACHE_DIR: z.string().default(path.join(os.homedir(), '.cache', 'spice-oms')),
  /** Where clients (API, worker, tests, the stack's health checks) reach the services. Each service listens on its own *_BIND_HOST. */
  SPICE_HOST: z.string().default('127.0.0.1'),
  /**
   * Where each service listens. Loopback unless set: publishing the API (API_BIND_HOST=0.0.0.0)
   * publishes nothing else; the Temporal Web UI can terminate workflows, the MinIO console holds
   * the root credentials.
   */
  API_BIND_HOST: host.default(LOOPBACK),
  TEMPORAL_BIND_HOST: host.default(LOOPBACK),
  TEMPORAL_UI_BIND_HOST: host.default(LOOPBACK),
  MINIO_BIND_HOST: host.default(LOOPBACK),
  MINIO_CONSOLE_BIND_HOST: host.default(LOOPBACK),
  KAFKA_BIND_HOST: host.default(LOOPBACK),
  PG_BIND_HOST: host.default(LOOPBACK),

  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_METRICS_PORT: port.default(7235),
  TEMPORAL_HTTP_PORT: port.default(7243),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /**
   * The local stack's Temporal: 'dev' the CLI dev server (SQLite, Web UI), 'server' the Temporal
   * server on the stack's PostgreSQL (scripts/stack/temporal-server.ts; no Web UI).
   */
  TEMPORAL_BACKEND: z.enum(['dev', 'server']).default('dev'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('spice-oms-commands'),
  /** Where clients reach Temporal (host:port); unset: the local stack's SPICE_HOST:TEMPORAL_PORT. */
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s/:]+:\d{1,5}$/, 'host:port')
    .optional(),
  /**
   * Temporal Cloud or a TLS cluster (README "Production checklist"; temporal-connection.ts): an API
   * key, or a client certificate and key for mTLS; either implies TLS.
   */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: bool.optional(),
  TEMPORAL_TLS_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CA_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),

  MINIO_PORT: port.default(9000),
  MINIO_CONSOLE_PORT: port.default(9001),
  /** The stack's MinIO root user: only the stack uses it (to create the bucket, the app user and its policy). */
  MINIO_ROOT_USER: z.string().min(3).default(DEV_CREDENTIALS.MINIO_ROOT_USER),
  MINIO_ROOT_PASSWORD: z.string().min(8).default(DEV_CREDENTIALS.MINIO_ROOT_PASSWORD),
  /** The application's S3 credentials: its bucket only, no delete (README "Least privilege"). */
  S3_ACCESS_KEY: z.string().min(3).default(DEV_CREDENTIALS.S3_ACCESS_KEY),
  S3_SECRET_KEY: z.string().min(8).default(DEV_CREDENTIALS.S3_SECRET_KEY),
  S3_REGION: z.string().default('us-east-1'),
  S3_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'S3 bucket name')
    .default('spice-event-store'),
  /** Set to use an external S3 (AWS or another MinIO) instead of the stack's MinIO. */
  S3_ENDPOINT: z.string().url().optional(),
  /** 'default-chain': no keys in the config; the AWS SDK finds them (IAM role of the instance or pod, web identity, env). */
  S3_CREDENTIALS: z.enum(['static', 'default-chain']).default('static'),
  /** false for virtual-hosted-style requests (bucket in the host name), as AWS prefers; MinIO needs path style. */
  S3_FORCE_PATH_STYLE: bool.default(true),

  KAFKA_PORT: port.default(9092),
  KAFKA_CONTROLLER_PORT: port.default(9093),
  KAFKA_TOPIC: z.string().min(1).default('spice.ontology.events'),
  KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(6),
  KAFKA_HEAP: z
    .string()
    .regex(/^\d+[mg]$/)
    .default('512m'),
  /** Bytes; a message body is kept well below the broker's 1 MiB default max.message.bytes. */
  KAFKA_MAX_MESSAGE_BYTES: z.coerce.number().int().min(10_000).default(900_000),
  KAFKA_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(500).max(120_000).default(5000),
  KAFKA_BROKERS: z.string().optional(),
  /** Managed Kafka (MSK, Confluent Cloud): TLS to the brokers, optionally with a CA file of your own. */
  KAFKA_SSL: bool.optional(),
  KAFKA_SSL_CA_PATH: z.string().min(1).optional(),
  /** SASL over TLS: the mechanism and credentials (Confluent Cloud: plain with an API key and secret; MSK: scram-sha-512). */
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /** Replicas of the topic the processes create when it is missing (1 on the single local broker; 3 on a managed cluster). */
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(10).default(1),

  PG_PORT: port.default(55432),
  /** The owner of the database's schemas: runs the migrations (README "Least privilege"). */
  PG_USER: z.string().min(1).default('spice'),
  PG_PASSWORD: z.string().min(1).default(DEV_CREDENTIALS.PG_PASSWORD),
  /** The role the processes read and write rows with: no DDL, no DROP, no TRUNCATE. */
  PG_APP_USER: z.string().min(1).default('spice_app'),
  PG_APP_PASSWORD: z.string().min(1).default(DEV_CREDENTIALS.PG_APP_PASSWORD),
  PG_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default('spice_oms'),
  PG_POOL_MAX: z.coerce.number().int().min(1).max(200).default(20),
  /** The runtime connection (the app role); default built from SPICE_HOST, PG_PORT, PG_APP_USER, PG_APP_PASSWORD, PG_DATABASE. */
  DATABASE_URL: z.string().optional(),
  /** The owner's connection, for migrations and the read-model rebuild's schemas; default DATABASE_URL when that is set (one role does both), else built from PG_USER, PG_PASSWORD. */
  DATABASE_OWNER_URL: z.string().optional(),

  API_PORT: port.default(8080),
  /**
   * API keys (README "Access control"). `off` is the development switch: every request acts as an
   * admin, the actor comes from X-Actor; refused unless the API listens on loopback.
   */
  API_AUTH: z.enum(['on', 'off']).default('on'),
  /** HMAC secret of the stored key hashes; changing it invalidates every key. */
  API_KEY_SECRET: z.string().min(16).default(DEV_CREDENTIALS.API_KEY_SECRET),
  /**
   * The master key (32 bytes, base64 or base64url) that wraps the data keys of personal-data
   * subjects in PostgreSQL (README "Personal data"). Changing it makes every stored data key
   * unreadable: rotate by re-wrapping, never by replacing.
   */
  PERSONAL_DATA_MASTER_KEY: z
    .string()
    .default(DEV_CREDENTIALS.PERSONAL_DATA_MASTER_KEY)
    .refine((v) => Buffer.from(v, 'base64url').length === 32, '32 bytes in base64'),
  /** An admin key that needs no store, for the local quick start (`npm start` prints it); empty: none. */
  API_DEV_KEY: z.string().default(DEV_CREDENTIALS.API_DEV_KEY),
  /** How long an API process trusts a key it has checked: a revoked key stops within this. */
  API_KEY_CACHE_MS: z.coerce.number().int().min(0).max(300_000).default(5000),
  /** Requests per key per API process in each window of API_RATE_WINDOW_S (429 RATE_LIMITED beyond). */
  API_RATE_LIMIT: count(1, 1_000_000).default(600),
  API_RATE_WINDOW_S: count(1, 3600).default(60),
  /** Bulk requests per key per API process in each window, on top of the general limit. */
  API_BULK_RATE_LIMIT: count(1, 100_000).default(10),
  /** Commands of one key started through one API process and not finished yet (429 TOO_MANY_COMMANDS beyond). */
  API_MAX_INFLIGHT_COMMANDS: count(1, 1_000_000).default(100),
  API_BODY_LIMIT: byteSize.default('25mb'),
  /** Input limits of the API (README "Input limits"); each refusal has its own problem code. */
  API_MAX_BODY_DEPTH: count(4, 1000).default(64),
  API_MAX_STRING_LENGTH: count(1, 100_000_000).default(1_000_000),
  API_MAX_PROPERTIES_PER_INSTANCE: count(1, 100_000).default(500),
  API_MAX_PREDICATES_PER_INSTANCE: count(1, 100_000).default(500),
  API_MAX_IDS_PER_REQUEST: count(1, 10_000_000).default(100_000),
  /**
   * Run a worker inside the API process: workflows then start eagerly (the first workflow task comes
   * back with the start call, skipping the task queue). Separate workers may still serve the queue.
   */
  API_EMBEDDED_WORKER: bool.default(false),
  API_WAIT_MAX_MS: z.coerce.number().int().min(0).max(300_000).default(30_000),
  /**
   * How long an idle client connection stays open. Longer than the idle timeout of the proxy or load
   * balancer in front (60 s on the common ones): when the API closes first, a request the proxy sends
   * on the closing connection is lost with ECONNRESET.
   */
  API_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(65_000),
  /**
   * After SIGTERM the API answers new requests 503 SHUTTING_DOWN and gives the requests in hand this
   * long to finish (waits answer at once with the command's status) before it closes its connections.
   */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(300_000).default(10_000),
  /** How long a process waits for each required service (and Temporal) at start before it gives up with one line naming it. */
  STARTUP_TIMEOUT_S: count(1, 3600).default(60),

  /** The reconciliation schedule: how often, and how old an undelivered event must be to be taken over. */
  RECONCILE_INTERVAL_S: z.coerce.number().int().min(5).max(86_400).default(60),
  RECONCILE_GRACE_S: z.coerce.number().int().min(0).max(86_400).default(60),

  /**
   * Characters of an instance's string property values its search index takes: the values
   * shortest first, a long one cut to its first characters, the whole cut at this length. The
   * read model keeps every value whole. PostgreSQL caps a tsvector at 1 MB; 150,000 characters of
   * any text stay below it (measured: at most about 6 bytes of tsvector per character).
   */
  SEARCH_INDEX_MAX_CHARS: z.coerce.number().int().min(1000).max(150_000).default(100_000),

  /**
   * The engine behind GET /databases/{db}/search. 'opensearch' also projects every event into
   * OpenSearch (the stack installs and starts it); 'postgres' keeps search on the PostgreSQL
   * full-text read model, for machines without Java.
   */
  SEARCH_ENGINE: z.enum(['opensearch', 'postgres']).default('opensearch'),
  OPENSEARCH_PORT: port.default(9200),
  OPENSEARCH_TRANSPORT_PORT: port.default(9300),
  OPENSEARCH_HEAP: z
    .string()
    .regex(/^\d+[mg]$/)
    .default('512m'),
  /** Set to use an external OpenSearch instead of the stack's node. */
  OPENSEARCH_URL: z.string().url().optional(),
  /** Every index and alias of spice-oms starts with this (tests use their own prefix). */
  OPENSEARCH_INDEX_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9_-]{0,40}$/)
    .default('spice'),

  /** Seed the storage mode on first start only: after that it lives in PostgreSQL (npm run ops -- mode set). */
  ENABLE_S3_EVENT_STORE: bool.default(true),
  ENABLE_DUAL_WRITE: bool.default(false),
  /**
   * How often each process re-reads the storage mode: every process sees a switch within this, and
   * new commands get the new mode 2 x this after the switch (the propagation bound).
   */
  STORAGE_MODE_REFRESH_MS: z.coerce.number().int().min(100).max(60_000).default(1000),

  /**
   * Streams a backfill, verify or reverse sync works on at once per worker (a run may ask for
   * another bound). Each stream copied holds a connection of the stream-lock pool, which grows to
   * this size; S3 requests in flight are about this many (a copy commits a stream's versions in order).
   */
  MIGRATION_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(32),

  /**
   * Aggregate state snapshots in S3 (snapshots/{type}/{id}/{version}.json): one is written, after
   * the command, each time a stream grows this many events past its last snapshot; a cold load
   * reads the newest snapshot and the events after it. 0: none written, none read.
   */
  SNAPSHOT_EVERY: z.coerce.number().int().min(0).max(1_000_000).default(100),
  /** Workflows kept in the worker's cache: commands are short, a small cache keeps the worker's memory flat. */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).max(100_000).default(500),
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(10_000).default(200),
  /**
   * Share of the workflow task pollers on the task queue itself rather than the worker's sticky
   * queue. A command is one workflow task, always its run's first, so it always comes through the
   * task queue, whose partitions (4 by default) each need a poller for a task to be handed over at
   * once (the SDK's default of 0.2 leaves 2 pollers there).
   */
  WORKER_NON_STICKY_POLL_RATIO: z.coerce.number().min(0.05).max(1).default(0.5),
  /** Serve the worker's metrics at http://WORKER_METRICS_BIND_HOST:<port>/metrics; unset, the worker serves none. */
  WORKER_METRICS_PORT: port.optional(),
  /** Loopback unless set, like every other listener: a scraper in another container or pod needs 0.0.0.0 (the image sets it). */
  WORKER_METRICS_BIND_HOST: host.default(LOOPBACK),
  /** A workflow bundle built ahead (the image builds it); unset, the worker bundles at start. */
  WORKER_WORKFLOW_BUNDLE: z.string().min(1).optional(),
  /**
   * After SIGTERM a worker takes no new task and has this long to finish the ones in hand; the SDK
   * forces the stop WORKER_SHUTDOWN_FORCE_MARGIN_MS later (Kubernetes' grace period must exceed both).
   */
  WORKER_SHUTDOWN_GRACE_S: count(0, 3600).default(30),
  /**
   * Worker Versioning (README "Changing workflow code"): every worker declares
   * WORKER_DEPLOYMENT_NAME + WORKER_BUILD_ID (default: package version and git sha, the image's
   * SPICE_GIT_SHA); with WORKER_VERSIONING=true the server routes new commands to the current version.
   */
  WORKER_VERSIONING: bool.default(false),
  WORKER_DEPLOYMENT_NAME: z.string().min(1).max(200).default('spice-oms'),
  WORKER_BUILD_ID: z.string().min(1).max(200).optional(),
  SPICE_GIT_SHA: z.string().min(1).max(64).optional(),
  /**
   * The Temporal SDK runtime's Prometheus exporter listens on 127.0.0.1:<port> (workflow task and
   * activity latencies, sticky cache, slots); the process's /metrics appends what it serves.
   */
  TEMPORAL_SDK_METRICS_PORT: port.optional(),
  /** OTLP/HTTP collector base URL (e.g. http://127.0.0.1:4318): traces are exported there; unset, none are recorded. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),

  /** A consumer process (`npm run consumer -- <name>`) serves its metrics at http://CONSUMER_METRICS_BIND_HOST:<port>/metrics; unset, none. */
  CONSUMER_METRICS_PORT: port.optional(),
  CONSUMER_METRICS_BIND_HOST: host.default(LOOPBACK),
  /** Attempts of one event by a consumer's handler before the event goes to the group's dead-letter topic. */
  CONSUMER_MAX_ATTEMPTS: count(1, 100).default(5),

  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type RawConfig = z.infer<typeof configSchema>;
export interface Config extends RawConfig {
  storageMode: StorageMode;
  apiBodyLimitBytes: number;
  inputLimits: InputLimits;
  temporalAddress: string;
  /** A worker's stop after SIGTERM: the grace for its tasks, and when the SDK forces it. */
  workerShutdown: { graceMs: number; forceAfterMs: number };
  temporalUiUrl: string;
  s3Endpoint: string;
  kafkaBrokers: string[];
  /** The runtime connection: the app role, which reads and writes rows only. */
  databaseUrl: string;
  /** The owner's connection: migrations and other DDL. */
  databaseOwnerUrl: string;
  apiUrl: string;
  opensearchUrl: string;
  personalDataMasterKey: Buffer;
}

/** How long after the grace the SDK stops a worker whose tasks did not finish. */
export const WORKER_SHUTDOWN_FORCE_MARGIN_MS = 10_000;

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

export function isLoopback(hostName: string): boolean {
  const h = hostName.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const hostOfUrl = (url: string): string => {
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
};

/**
 * Which endpoints each built-in development secret guards (names and users are not secrets): the credential may stay while all
 * of them are on loopback. A bind address, or a client address of an external service, counts.
 */
function devCredentialExposures(c: RawConfig): string[] {
  const dev = (name: keyof typeof DEV_CREDENTIALS) => (c as Record<string, unknown>)[name] === DEV_CREDENTIALS[name];
  const off = (entries: Array<[string, string | undefined]>) => entries.filter(([, h]) => h !== undefined && !isLoopback(h));
  const s3Endpoints = off([
    ['MINIO_BIND_HOST', c.MINIO_BIND_HOST],
    ['S3_ENDPOINT', c.S3_ENDPOINT && hostOfUrl(c.S3_ENDPOINT)],
  ]);
  const pgEndpoints = off([
    ['PG_BIND_HOST', c.PG_BIND_HOST],
    ['SPICE_HOST', c.SPICE_HOST],
  ]);
  const guards: Array<[boolean, string, Array<[string, string | undefined]>]> = [
    [
      dev('MINIO_ROOT_PASSWORD'),
      'MINIO_ROOT_PASSWORD',
      off([
        ['MINIO_BIND_HOST', c.MINIO_BIND_HOST],
        ['MINIO_CONSOLE_BIND_HOST', c.MINIO_CONSOLE_BIND_HOST],
      ]),
    ],
    [dev('S3_SECRET_KEY') && c.S3_CREDENTIALS === 'static', 'S3_SECRET_KEY', s3Endpoints],
    [dev('PG_PASSWORD') && c.DATABASE_OWNER_URL === undefined && c.DATABASE_URL === undefined, 'PG_PASSWORD', pgEndpoints],
    [dev('PG_APP_PASSWORD') && c.DATABASE_URL === undefined, 'PG_APP_PASSWORD', pgEndpoints],
    [dev('API_KEY_SECRET'), 'API_KEY_SECRET', off([['API_BIND_HOST', c.API_BIND_HOST]])],
    // The wrapped data keys live in PostgreSQL: the dev master key is no secret once it can be reached.
    [
      dev('PERSONAL_DATA_MASTER_KEY'),
      'PERSONAL_DATA_MASTER_KEY',
      off([
        ['PG_BIND_HOST', c.PG_BIND_HOST],
        ['SPICE_HOST', c.SPICE_HOST],
        ['DATABASE_URL', c.DATABASE_URL && hostOfUrl(c.DATABASE_URL)],
        ['DATABASE_OWNER_URL', c.DATABASE_OWNER_URL && hostOfUrl(c.DATABASE_OWNER_URL)],
      ]),
    ],
    [dev('API_DEV_KEY'), 'API_DEV_KEY (set it empty)', off([['API_BIND_HOST', c.API_BIND_HOST]])],
    [c.API_AUTH === 'off', 'API_AUTH=off', off([['API_BIND_HOST', c.API_BIND_HOST]])],
  ];
  return guards.filter(([inUse, , exposed]) => inUse && exposed.length > 0).map(([, name, exposed]) => `${name} with ${exposed.map(([k, h]) => `${k}=${h}`).join(', ')}`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  const c = parsed.data;
  const exposed = devCredentialExposures(c);
  if (exposed.length > 0) {
    throw new ConfigError(`refusing to start: built-in development credentials on a non-loopback endpoint: ${exposed.join('; ')}; set your own (README "Exposure")`);
  }
  const h = c.SPICE_HOST;
  const pgUrl = (user: string, password: string) => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${h}:${c.PG_PORT}/${c.PG_DATABASE}`;
  return {
    ...c,
    storageMode: storageModeOf(c.ENABLE_S3_EVENT_STORE, c.ENABLE_DUAL_WRITE),
    apiBodyLimitBytes: parseByteSize(c.API_BODY_LIMIT)!,
    inputLimits: {
      maxBodyDepth: c.API_MAX_BODY_DEPTH,
      maxStringLength: c.API_MAX_STRING_LENGTH,
      maxPropertiesPerInstance: c.API_MAX_PROPERTIES_PER_INSTANCE,
      maxPredicatesPerInstance: c.API_MAX_PREDICATES_PER_INSTANCE,
      maxIdsPerRequest: c.API_MAX_IDS_PER_REQUEST,
    },
    temporalAddress: c.TEMPORAL_ADDRESS ?? `${h}:${c.TEMPORAL_PORT}`,
    workerShutdown: { graceMs: c.WORKER_SHUTDOWN_GRACE_S * 1000, forceAfterMs: c.WORKER_SHUTDOWN_GRACE_S * 1000 + WORKER_SHUTDOWN_FORCE_MARGIN_MS },
    temporalUiUrl: `http://${h}:${c.TEMPORAL_UI_PORT}`,
    s3Endpoint: c.S3_ENDPOINT ?? `http://${h}:${c.MINIO_PORT}`,
    kafkaBrokers: (c.KAFKA_BROKERS ?? `${h}:${c.KAFKA_PORT}`).split(',').map((b) => b.trim()),
    databaseUrl: c.DATABASE_URL ?? pgUrl(c.PG_APP_USER, c.PG_APP_PASSWORD),
    databaseOwnerUrl: c.DATABASE_OWNER_URL ?? c.DATABASE_URL ?? pgUrl(c.PG_USER, c.PG_PASSWORD),
    apiUrl: `http://${h}:${c.API_PORT}`,
    opensearchUrl: c.OPENSEARCH_URL ?? `http://${h}:${c.OPENSEARCH_PORT}`,
    personalDataMasterKey: Buffer.from(c.PERSONAL_DATA_MASTER_KEY, 'base64url'),
  };
}

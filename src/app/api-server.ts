/**
 * The API process: `npm run api`. Wires the express app to Temporal, S3, PostgreSQL and Kafka
 * and listens on API_PORT until SIGINT/SIGTERM.
 */
import { startProcessTelemetry } from './process-telemetry';
import { clientTracing } from './tracing';
import { MigrationOps } from './migration-ops';
import { forgetSubject, forgetSubjectWorkflowId } from '../workflows/forget-subject';
import http, { type Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { exitStartFailed, listenOn, reachService } from './startup';
import { createCommandWorker, workerProcessOptions } from './command-worker';
import { temporalConnectionOptions } from './temporal-connection';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { Config, loadConfig } from './config';
import { createLogger, type Logger } from './logger';
import { connectInfrastructure, Infrastructure, InfraOptions } from './composition';
import { createApp } from '../api/app';
import { answerClientError } from '../api/problem';
import { TemporalCommandGateway } from './command-gateway';
import type { ApiPorts } from '../api/ports';
import type { HealthCheck } from '../ports/health';
import { ApiKeys } from '../api/api-keys';
import type { AccessControl } from '../api/auth';
import type { ApiKeyStore } from '../ports/api-keys';

/** The API's access control as the config sets it (README "Access control"). */
export function accessControlOf(config: Config, store: ApiKeyStore): AccessControl {
  return {
    mode: config.API_AUTH,
    keys: new ApiKeys({ store, secret: config.API_KEY_SECRET, cacheMs: config.API_KEY_CACHE_MS, devKey: config.API_DEV_KEY }),
    limits: {
      requestsPerWindow: config.API_RATE_LIMIT,
      windowS: config.API_RATE_WINDOW_S,
      bulkPerWindow: config.API_BULK_RATE_LIMIT,
      maxInflightCommands: config.API_MAX_INFLIGHT_COMMANDS,
    },
  };
}

export interface RunningApi {
  server: Server;
  url: string;
  infra: Infrastructure;
  /** The API keys this process checks against (and can mint, e.g. for tests). */
  keys: ApiKeys;
  /**
   * The stop on SIGTERM: readiness turns not-ready and new requests get 503 SHUTTING_DOWN, the
   * requests in hand get up to `graceMs` (their waits answer at once), then everything closes.
   */
  shutdown(graceMs: number): Promise<void>;
  close(): Promise<void>;
}

export async function startApi(config: Config, o: InfraOptions & { port?: number; taskQueue?: string; logger?: Logger } = {}): Promise<RunningApi> {
  const log = o.logger ?? createLogger(config.LOG_LEVEL, 'api');
  const infra = await connectInfrastructure(config, o);
  const telemetry = startProcessTelemetry(config, 'spice-oms-api', infra, log);
  const taskQueue = o.taskQueue ?? config.TEMPORAL_TASK_QUEUE;
  const connection = await reachService(config, 'temporal', () => Connection.connect(temporalConnectionOptions(config)));
  const embedded = config.API_EMBEDDED_WORKER ? await startEmbeddedWorker(config, infra, taskQueue) : undefined;
  // Eager start needs the client on the embedded worker's own native connection.
  const client = new Client({ connection: embedded?.connection ?? connection, namespace: config.TEMPORAL_NAMESPACE, interceptors: { workflow: clientTracing() } });
  const admin = infra.kafka.admin();
  await reachService(config, 'kafka', () => admin.connect());
  const stopping = new AbortController();

  const health: HealthCheck[] = [
    {
      name: 'api',
      check: async () => {
        if (stopping.signal.aborted) throw new Error('shutting down');
      },
    },
    { name: 'temporal', check: async () => void (await connection.workflowService.getSystemInfo({})) },
    { name: 's3', check: async () => void (await infra.s3.send(new HeadBucketCommand({ Bucket: config.S3_BUCKET }))) },
    { name: 'postgres', check: async () => void (await infra.pool.query('SELECT 1')) },
    { name: 'kafka', check: async () => void (await admin.describeCluster()) },
    ...(infra.search ? [{ name: 'opensearch', check: () => infra.search!.ping() }] : []),
  ];
  const ports: ApiPorts = {
    commands: new TemporalCommandGateway({
      client,
      taskQueue,
      storageMode: () => infra.modeCache.modeForNewCommand(),
      eagerStart: embedded !== undefined,
      blobs: infra.blobs,
      bodies: infra.personalData.bodies,
      ledger: infra.ledger,
    }),
    readModels: infra.readModels,
    ...(infra.search ? { search: infra.search.queries } : {}),
    history: infra.history,
    audit: infra.auditLog,
    health,
    maxWaitMs: config.API_WAIT_MAX_MS,
    bodyLimitBytes: config.apiBodyLimitBytes,
    limits: config.inputLimits,
    access: accessControlOf(config, infra.apiKeys),
    admin: new MigrationOps({ modes: infra.modes, client, taskQueue, propagationMs: 2 * config.STORAGE_MODE_REFRESH_MS }),
    subjects: {
      forget: async ({ db_name, instance_id, actor }) => {
        log.info({ db_name, instance_id, actor }, 'FORGET_SUBJECT');
        return client.workflow.execute(forgetSubject, {
          taskQueue,
          workflowId: forgetSubjectWorkflowId(db_name, instance_id),
          args: [{ db_name, instance_id, storage_mode: await infra.modeCache.modeForNewCommand() }],
        });
      },
    },
    stopping: stopping.signal,
  };
  const app = createApp(ports, log);
  const port = o.port ?? config.API_PORT;
  const server = http.createServer(app);
  server.keepAliveTimeout = config.API_KEEP_ALIVE_TIMEOUT_MS;
  // Node wants the header timeout above the keep-alive one, or it cuts the next request's headers short.
  server.headersTimeout = config.API_KEEP_ALIVE_TIMEOUT_MS + 1_000;
  server.on('clientError', answerClientError);
  let inFlight = 0;
  let idle: (() => void) | undefined;
  server.on('request', (_req, res) => {
    inFlight++;
    res.once('close', () => {
      if (--inFlight === 0) idle?.();
    });
  });
  try {
    await listenOn(server, port, config.API_BIND_HOST, 'API_PORT');
  } catch (err) {
    await Promise.all([admin.disconnect().catch(() => undefined), embedded?.stop(), connection.close(), infra.close()]);
    throw err;
  }
  const address = server.address();
  const url = `http://${config.SPICE_HOST}:${typeof address === 'object' && address ? address.port : port}`;
  log.info({ url, storageMode: (await infra.modeCache.state()).mode }, 'api listening');
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      stopping.abort();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await admin.disconnect().catch(() => undefined);
      await embedded?.stop();
      await connection.close();
      await telemetry.stop();
      await infra.close();
    })());
  return {
    server,
    url,
    infra,
    keys: ports.access.keys,
    async shutdown(graceMs: number) {
      stopping.abort();
      log.info({ inFlight, graceMs }, 'api shutting down');
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          idle = resolve;
          setTimeout(resolve, graceMs).unref();
        });
      }
      if (inFlight > 0) log.warn({ inFlight }, 'requests still in hand after the grace; closing their connections');
      await close();
      log.info('api stopped');
    },
    close,
  };
}

async function startEmbeddedWorker(config: Config, infra: Infrastructure, taskQueue: string) {
  const connection = await reachService(config, 'temporal', () => NativeConnection.connect(temporalConnectionOptions(config)));
  await infra.relay.start();
  const worker = await createCommandWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue,
    deps: infra.activityDeps(),
    rebuild: infra.rebuildDeps(),
    reconcile: infra.reconcileDeps(),
    search: infra.searchDeps(),
    migration: infra.migrationDeps(),
    tuning: { ...workerProcessOptions(config), maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS },
  });
  const running = worker.run();
  return {
    connection,
    async stop() {
      // A shutdown signal the SDK's runtime caught may have stopped it already; a second shutdown() throws.
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
    },
  };
}

/**
 * The API as a process: starts, or exits 1 with one line saying why; on SIGINT/SIGTERM drains
 * within SHUTDOWN_GRACE_MS and exits 0.
 */
export async function runApiProcess(config: Config, o: Parameters<typeof startApi>[1] = {}): Promise<void> {
  // The process decides when the embedded worker stops (after the requests in hand), not the SDK's own signal handler.
  if (config.API_EMBEDDED_WORKER) Runtime.install({ shutdownSignals: [] });
  let api: RunningApi | undefined;
  let signalled = false;
  const stop = () => {
    if (signalled) return;
    signalled = true;
    if (api === undefined) process.exit(0);
    api.shutdown(config.SHUTDOWN_GRACE_MS).then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`api: shutdown failed: ${err instanceof Error ? err.stack : String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    api = await startApi(config, o);
  } catch (err) {
    exitStartFailed('api', err);
  }
}

if (require.main === module) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    exitStartFailed('api', err);
  }
  void runApiProcess(config);
}

/**
 * TEMPORAL_BACKEND=server: a production-style Temporal (go.temporal.io/server, the version the CLI
 * embeds) with its persistence and visibility in two databases of the stack's PostgreSQL, instead
 * of the CLI dev server on SQLite. No Web UI (a separate module). Built with the server's schema
 * tool, whose schemas ship inside the server module; the databases are named after the frontend
 * port, so a second instance on other ports never meets the first one's.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../src/app/config';
import { StackError, run, runQuiet, sleep, spawnDetached, stopPid } from './proc';
import { SEARCH_ATTRIBUTES, goEnv, portOpen, requireTool, stackPaths, waitHealthy, type ServiceSpec, type StackPaths } from './services';

export const TEMPORAL_SERVER_VERSION = 'v1.29.1';

export function temporalServerPaths(p: StackPaths) {
  const dir = path.join(p.cache, 'bin', `temporal-server-${TEMPORAL_SERVER_VERSION}`);
  return { server: path.join(dir, 'server'), sqlTool: path.join(dir, 'sql'), module: path.join(p.goModCache, 'go.temporal.io', `server@${TEMPORAL_SERVER_VERSION}`) };
}

export function temporalServerInstalled(p: StackPaths): boolean {
  const bins = temporalServerPaths(p);
  return fs.existsSync(bins.server) && fs.existsSync(bins.sqlTool) && fs.existsSync(path.join(bins.module, 'schema'));
}

/** Builds the server and its schema tool (about 2.5 min with the CLI's modules cached; much longer on a loaded machine). */
export async function installTemporalServer(p: StackPaths): Promise<void> {
  requireTool('go', 'temporal-server', 'install Go >= 1.25 from the Debian packages or go.dev');
  const bins = temporalServerPaths(p);
  await run('go', ['install', `go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`, `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`], {
    env: goEnv(p, path.dirname(bins.server)),
    logFile: path.join(p.logs, 'temporal-server-install.log'),
    service: 'temporal-server',
  });
}

/**
 * The ports besides the frontend's: history +1, matching +3, worker +6 (as in the module's own
 * config, where the metrics port +2 is free), each service's membership port 300 below.
 */
function servicePorts(f: number) {
  return { frontend: f, history: f + 1, matching: f + 3, worker: f + 6 };
}

/** The server's own YAML: the frontend on TEMPORAL_PORT, the other services and their membership ports beside it. */
export function temporalServerConfig(cfg: Config, databases: { main: string; visibility: string }, dynamicConfigFile: string): string {
  const store = (db: string, conns: number) => `
      sql:
        pluginName: "postgres12"
        databaseName: "${db}"
        connectAddr: "${cfg.SPICE_HOST}:${cfg.PG_PORT}"
        connectProtocol: "tcp"
        user: ${JSON.stringify(cfg.PG_USER)}
        password: ${JSON.stringify(cfg.PG_PASSWORD)}
        maxConns: ${conns}
        maxIdleConns: ${conns}
        maxConnLifetime: "1h"`;
  const svc = (grpc: number, http?: number) => `
    rpc:
      grpcPort: ${grpc}
      membershipPort: ${grpc - 300}
      bindOnLocalHost: true${http ? `\n      httpPort: ${http}` : ''}`;
  const ports = servicePorts(cfg.TEMPORAL_PORT);
  return `log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
    postgres-default:${store(databases.main, 20)}
    postgres-visibility:${store(databases.visibility, 4)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
  metrics:
    prometheus:
      framework: "tally"
      timerType: "histogram"
      listenAddress: "127.0.0.1:${cfg.TEMPORAL_METRICS_PORT}"
services:
  frontend:${svc(ports.frontend, cfg.TEMPORAL_HTTP_PORT)}
  history:${svc(ports.history)}
  matching:${svc(ports.matching)}
  worker:${svc(ports.worker)}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${ports.frontend}"
dcRedirectionPolicy:
  policy: "noop"
dynamicConfigClient:
  filepath: ${JSON.stringify(dynamicConfigFile)}
  pollInterval: "10s"
`;
}

/**
 * What the dev server runs with (its --dynamic-config-value flags in services.ts and the CLI's own
 * defaults), so that the two backends differ in their store and not in their settings.
 */
const DYNAMIC_CONFIG = `system.enableActivityEagerExecution:
  - value: true
frontend.enableUpdateWorkflowExecution:
  - value: true
matching.numTaskqueueReadPartitions:
  - value: 1
matching.numTaskqueueWritePartitions:
  - value: 1
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
frontend.persistenceMaxQPS:
  - value: 10000
history.persistenceMaxQPS:
  - value: 45000
history.hostLevelCacheMaxSize:
  - value: 8096
frontend.namespaceRPS.visibility:
  - value: 100
`;

export function temporalServerService(cfg: Config, p: StackPaths, temporalCli: string): ServiceSpec {
  const bins = temporalServerPaths(p);
  const host = cfg.SPICE_HOST;
  const databases = { main: `temporal_${cfg.TEMPORAL_PORT}`, visibility: `temporal_visibility_${cfg.TEMPORAL_PORT}` };
  const root = path.join(p.data, `temporal-server-${cfg.TEMPORAL_PORT}`);
  const ports = servicePorts(cfg.TEMPORAL_PORT);
  const cli = (args: string[]) => runQuiet(temporalCli, [...args, '--address', `${host}:${cfg.TEMPORAL_PORT}`], 30_000);
  return {
    name: 'temporal-server',
    ports: [...Object.values(ports), ...Object.values(ports).map((x) => x - 300), cfg.TEMPORAL_HTTP_PORT, cfg.TEMPORAL_METRICS_PORT],
    startTimeoutS: 120,
    installed: () => temporalServerInstalled(p) && fs.existsSync(temporalCli),
    async install() {
      // The CLI is the dev server's binary: its own service installs it; here it is only the client.
      if (!fs.existsSync(temporalCli)) throw new Error(`temporal-server: the temporal CLI (${temporalCli}) is missing: run 'npx tsx scripts/stack.ts install' with TEMPORAL_BACKEND=dev first`);
      await installTemporalServer(p);
    },
    async prepare() {
      // The password goes through the environment: on the command line it would show in `ps`.
      const env = { ...process.env, SQL_PASSWORD: cfg.PG_PASSWORD };
      const log = path.join(p.logs, 'temporal-server-schema.log');
      const sql = (db: string, args: string[]) =>
        run(bins.sqlTool, ['--plugin', 'postgres12', '--ep', host, '-p', String(cfg.PG_PORT), '-u', cfg.PG_USER, '--db', db, ...args], { env, logFile: log, service: 'temporal-server' });
      for (const [db, schema] of [
        [databases.main, 'temporal'],
        [databases.visibility, 'visibility'],
      ] as const) {
        const versioned = path.join(bins.module, 'schema', 'postgresql', 'v12', schema, 'versioned');
        // create-database and setup-schema fail on a database that has them already: that is the only failure they may have,
        // and update-schema (a no-op when up to date) is what proves the schema.
        await runQuiet(bins.sqlTool, ['--plugin', 'postgres12', '--ep', host, '-p', String(cfg.PG_PORT), '-u', cfg.PG_USER, '--db', db, 'create-database'], 60_000, { env });
        await runQuiet(bins.sqlTool, ['--plugin', 'postgres12', '--ep', host, '-p', String(cfg.PG_PORT), '-u', cfg.PG_USER, '--db', db, 'setup-schema', '-v', '0.0'], 60_000, { env });
        await sql(db, ['update-schema', '-d', versioned]);
      }
      fs.mkdirSync(path.join(root, 'config'), { recursive: true });
      const dynamic = path.join(root, 'dynamicconfig.yaml');
      fs.writeFileSync(dynamic, DYNAMIC_CONFIG);
      fs.writeFileSync(path.join(root, 'config', 'development.yaml'), temporalServerConfig(cfg, databases, dynamic), { mode: 0o600 });
      return { cmd: bins.server, args: ['--root', root, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'] };
    },
    async health() {
      const r = await cli(['operator', 'cluster', 'health']);
      return r.ok ? { ok: true, detail: 'SERVING' } : { ok: false, detail: r.output.trim().split('\n').pop() ?? 'not serving' };
    },
    async afterStart() {
      // The dev server takes these as flags; the server keeps them in its database: both idempotent.
      const described = await cli(['operator', 'namespace', 'describe', '--namespace', cfg.TEMPORAL_NAMESPACE]);
      if (!described.ok) {
        const created = await cli(['operator', 'namespace', 'create', '--namespace', cfg.TEMPORAL_NAMESPACE, '--retention', '72h']);
        if (!created.ok) throw new Error(`temporal-server: namespace ${cfg.TEMPORAL_NAMESPACE}: ${created.output.trim()}`);
        // A new namespace reaches the services' namespace registry on its next refresh (2 s): until then workers are refused.
        for (let deadline = Date.now() + 30_000; !(await cli(['workflow', 'count', '--namespace', cfg.TEMPORAL_NAMESPACE])).ok; await sleep(500)) {
          if (Date.now() > deadline) throw new Error(`temporal-server: namespace ${cfg.TEMPORAL_NAMESPACE} created but not served within 30 s`);
        }
      }
      const listed = await cli(['operator', 'search-attribute', 'list', '--namespace', cfg.TEMPORAL_NAMESPACE]);
      for (const sa of SEARCH_ATTRIBUTES) {
        if (listed.output.includes(sa)) continue;
        const r = await cli(['operator', 'search-attribute', 'create', '--namespace', cfg.TEMPORAL_NAMESPACE, '--name', sa, '--type', 'Keyword']);
        if (!r.ok) throw new Error(`temporal-server: search attribute ${sa}: ${r.output.trim()}`);
      }
    },
    endpoints: () => [`frontend ${host}:${cfg.TEMPORAL_PORT} (Temporal server ${TEMPORAL_SERVER_VERSION} on PostgreSQL ${databases.main}, ${databases.visibility}; no Web UI)`],
  };
}

/**
 * The environment of a server beside the stack's Temporal, its frontend on `port` (HTTP +10,
 * metrics +2): clients reach it there, not at a TEMPORAL_ADDRESS of the environment.
 */
export function temporalServerEnv(port: number, env: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  const { TEMPORAL_ADDRESS: _elsewhere, ...rest } = env;
  return { ...rest, TEMPORAL_PORT: String(port), TEMPORAL_HTTP_PORT: String(port + 10), TEMPORAL_METRICS_PORT: String(port + 2) };
}

export interface RunningTemporalServer {
  address: string;
  /** The server's pid when this call started it; null when one already answered on the port. */
  pid: number | null;
  /** Stops the server if this call started it (by its pid); leaves one it found running alone. */
  stop(): Promise<void>;
}

/**
 * A server on cfg's ports for a test or the benchmark, beside the stack's own Temporal: reuses one
 * that answers there, else starts one within `startTimeoutS` (namespace and search attributes
 * registered either way). Its log: <cache>/logs/temporal-server-<port>.log.
 */
export async function ensureTemporalServer(cfg: Config, o: { startTimeoutS?: number } = {}): Promise<RunningTemporalServer> {
  const p = stackPaths(cfg);
  const spec = { ...temporalServerService(cfg, p, p.temporalBin), ...(o.startTimeoutS ? { startTimeoutS: o.startTimeoutS } : {}) };
  const address = `${cfg.SPICE_HOST}:${cfg.TEMPORAL_PORT}`;
  if ((await spec.health()).ok) {
    await spec.afterStart!();
    return { address, pid: null, stop: async () => undefined };
  }
  if (!spec.installed()) throw new StackError('temporal-server', `not built (${temporalServerPaths(p).server}); run: npx tsx scripts/stack.ts install`);
  for (const port of spec.ports) if (await portOpen(cfg.SPICE_HOST, port)) throw new StackError('temporal-server', `port ${cfg.SPICE_HOST}:${port} is taken by another process`);
  const logFile = path.join(p.logs, `temporal-server-${cfg.TEMPORAL_PORT}.log`);
  const { cmd, args } = await spec.prepare();
  const pid = spawnDetached(cmd, args, logFile);
  const stop = () => stopPid(pid, 10_000);
  try {
    await waitHealthy(spec, pid, logFile);
    await spec.afterStart!();
  } catch (e) {
    await stop();
    throw e;
  }
  return { address, pid, stop };
}

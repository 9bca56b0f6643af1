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
import { run, runQuiet } from './proc';
import { SEARCH_ATTRIBUTES, goEnv, requireTool, type ServiceSpec, type StackPaths } from './services';

export const TEMPORAL_SERVER_VERSION = 'v1.29.1';

export function temporalServerPaths(p: StackPaths) {
  const dir = path.join(p.cache, 'bin', `temporal-server-${TEMPORAL_SERVER_VERSION}`);
  return { server: path.join(dir, 'server'), sqlTool: path.join(dir, 'sql'), module: path.join(p.goModCache, 'go.temporal.io', `server@${TEMPORAL_SERVER_VERSION}`) };
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
  const svc = (grpc: number, membership: number, http?: number) => `
    rpc:
      grpcPort: ${grpc}
      membershipPort: ${membership}
      bindOnLocalHost: true${http ? `\n      httpPort: ${http}` : ''}`;
  const f = cfg.TEMPORAL_PORT;
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
  frontend:${svc(f, f - 300, cfg.TEMPORAL_HTTP_PORT)}
  history:${svc(f + 1, f - 299)}
  matching:${svc(f + 3, f - 298)}
  worker:${svc(f + 6, f - 294)}
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
      rpcAddress: "127.0.0.1:${f}"
dcRedirectionPolicy:
  policy: "noop"
dynamicConfigClient:
  filepath: ${JSON.stringify(dynamicConfigFile)}
  pollInterval: "10s"
`;
}

/** The dynamic config the dev server gets through its --dynamic-config-value flags. */
const DYNAMIC_CONFIG = `system.enableActivityEagerExecution:
  - value: true
frontend.enableUpdateWorkflowExecution:
  - value: true
system.forceSearchAttributesCacheRefreshOnRead:
  - value: true
    constraints: {}
`;

export function temporalServerService(cfg: Config, p: StackPaths, cliService: { bin: string; installed(): boolean; install(): Promise<void> }): ServiceSpec {
  const temporalCli = cliService.bin;
  const bins = temporalServerPaths(p);
  const host = cfg.SPICE_HOST;
  const databases = { main: `temporal_${cfg.TEMPORAL_PORT}`, visibility: `temporal_visibility_${cfg.TEMPORAL_PORT}` };
  const root = path.join(p.data, `temporal-server-${cfg.TEMPORAL_PORT}`);
  const cli = (args: string[]) => runQuiet(temporalCli, [...args, '--address', `${host}:${cfg.TEMPORAL_PORT}`], 30_000);
  return {
    name: 'temporal-server',
    ports: [cfg.TEMPORAL_PORT, cfg.TEMPORAL_PORT + 1, cfg.TEMPORAL_PORT + 3, cfg.TEMPORAL_PORT + 6, cfg.TEMPORAL_HTTP_PORT, cfg.TEMPORAL_METRICS_PORT],
    startTimeoutS: 120,
    installed: () => fs.existsSync(bins.server) && fs.existsSync(bins.sqlTool) && cliService.installed(),
    async install() {
      requireTool('go', 'temporal-server', 'install Go >= 1.25 from the Debian packages or go.dev');
      if (!cliService.installed()) await cliService.install();
      await run('go', ['install', `go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`, `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`], {
        env: goEnv(p, path.dirname(bins.server)),
        logFile: path.join(p.logs, 'temporal-server-install.log'),
        service: 'temporal',
      });
    },
    async prepare() {
      // The password goes through the environment: on the command line it would show in `ps`.
      const env = { ...process.env, SQL_PASSWORD: cfg.PG_PASSWORD };
      const log = path.join(p.logs, 'temporal-server-schema.log');
      const sql = (db: string, args: string[]) =>
        run(bins.sqlTool, ['--plugin', 'postgres12', '--ep', host, '-p', String(cfg.PG_PORT), '-u', cfg.PG_USER, '--db', db, ...args], { env, logFile: log, service: 'temporal' });
      for (const [db, schema] of [
        [databases.main, 'temporal'],
        [databases.visibility, 'visibility'],
      ] as const) {
        // Each step is idempotent: an existing database, an installed base schema, an up-to-date version are no-ops.
        await runQuiet(bins.sqlTool, ['--plugin', 'postgres12', '--ep', host, '-p', String(cfg.PG_PORT), '-u', cfg.PG_USER, '--db', db, 'create-database'], 60_000, { env });
        await runQuiet(bins.sqlTool, ['--plugin', 'postgres12', '--ep', host, '-p', String(cfg.PG_PORT), '-u', cfg.PG_USER, '--db', db, 'setup-schema', '-v', '0.0'], 60_000, { env });
        await sql(db, ['update-schema', '-d', path.join(bins.module, 'schema', 'postgresql', 'v12', schema, 'versioned')]);
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

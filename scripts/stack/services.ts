/**
 * The services of the local stack: how each is installed from a package registry, how it is
 * started as a plain loopback process, and how we know it answers.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { Config } from '../../src/app/config';
import { run, runQuiet, commandExists, isAlive, lastLine, sleep, StackError } from './proc';
import { provisionMinioAppUser } from './minio-app-user';
import { installTemporalServer, temporalServerInstalled, temporalServerService } from './temporal-server';

export const VERSIONS = {
  temporalCli: 'v1.5.1',
  // The minio repository is archived and its tags are not semver: pin the last commit's pseudo-version.
  minio: 'v0.0.0-20260212201848-7aac2a2c5b7c',
  // MinIO's client, for the application's user and policy; the newest pseudo-version the proxy lists.
  mc: 'v0.0.0-20250313080218-cf909e1063a9',
  kafka: '3.9.1',
  slf4jReload4j: '1.7.36',
  postgresMajor: '15',
  opensearch: '2.19.6',
  // Must equal the log4j-api that Maven resolves through org.opensearch:opensearch: a core of another
  // version dies at start (NoSuchMethodError in ServiceLoaderUtil). The pom pins both.
  log4j: '2.25.4',
} as const;

export const SEARCH_ATTRIBUTES = ['CommandType', 'AggregateType', 'AggregateId', 'DatabaseName', 'StorageMode'];

export interface StackPaths {
  cache: string;
  data: string;
  logs: string;
  run: string;
  goModCache: string;
  goBuildCache: string;
  temporalBin: string;
  minioBin: string;
  mcBin: string;
  kafkaDir: string;
  pgData: string;
  pgSocketDir: string;
  opensearchDir: string;
}

export function stackPaths(cfg: Config): StackPaths {
  const cache = path.resolve(cfg.SPICE_CACHE_DIR);
  const data = path.join(cache, 'data');
  // PostgreSQL refuses to run as root, and the postgres user cannot enter /root: keep its cluster
  // in a directory that user can reach when we run as root.
  const pgBase = process.getuid?.() === 0 && cache.startsWith('/root') ? '/var/lib/spice-oms' : data;
  return {
    cache,
    data,
    logs: path.join(cache, 'logs'),
    run: path.join(cache, 'run'),
    goModCache: path.join(cache, 'go', 'mod'),
    goBuildCache: path.join(cache, 'go', 'build'),
    temporalBin: path.join(cache, 'bin', `temporal-${VERSIONS.temporalCli}`, 'temporal'),
    minioBin: path.join(cache, 'bin', `minio-${VERSIONS.minio}`, 'minio'),
    mcBin: path.join(cache, 'bin', `mc-${VERSIONS.mc}`, 'mc'),
    kafkaDir: path.join(cache, `kafka-${VERSIONS.kafka}`),
    pgData: path.join(pgBase, `pg${VERSIONS.postgresMajor}-${cfg.PG_PORT}`),
    pgSocketDir: path.join(pgBase, `pg-socket-${cfg.PG_PORT}`),
    opensearchDir: path.join(cache, `opensearch-${VERSIONS.opensearch}`),
  };
}

export interface HealthResult {
  ok: boolean;
  detail: string;
}

export interface ServiceSpec {
  name: 'postgres' | 'minio' | 'kafka' | 'opensearch' | 'temporal' | 'temporal-server';
  ports: number[];
  /** Seconds `up` waits for the health check before giving up. */
  startTimeoutS: number;
  installed(): boolean;
  install(): Promise<void>;
  /** Prepares data directories; returns the command that runs the service in the foreground. */
  prepare(): Promise<{ cmd: string; args: string[]; env?: NodeJS.ProcessEnv; uid?: number; gid?: number }>;
  health(): Promise<HealthResult>;
  /** Runs at every `up` once the service answers, started or already running: idempotent (database roles, users, policies). */
  afterStart?(): Promise<void>;
  endpoints(): string[];
}

export function goEnv(p: StackPaths, gobin: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CGO_ENABLED: '0',
    GOBIN: gobin,
    GOMODCACHE: p.goModCache,
    GOCACHE: p.goBuildCache,
    GOFLAGS: '-modcacherw',
    // Never fetch another Go toolchain behind the user's back.
    GOTOOLCHAIN: 'local',
  };
}

export function requireTool(tool: string, service: string, hint: string): void {
  if (!commandExists(tool)) throw new Error(`${service}: '${tool}' not found on PATH (${hint})`);
}

export async function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function httpOk(url: string, timeoutMs = 2000): Promise<{ ok: boolean; status: number; body: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { ok: res.ok, status: res.status, body: await res.text() };
  } catch (e) {
    return { ok: false, status: 0, body: String((e as Error).message) };
  }
}

/** Waits for the service started as `pid` to pass its health check within its start bound; names its log otherwise. */
export async function waitHealthy(s: ServiceSpec, pid: number, logFile: string): Promise<void> {
  const deadline = Date.now() + s.startTimeoutS * 1000;
  let last = '';
  while (Date.now() < deadline) {
    if (!isAlive(pid)) throw new StackError(s.name, `exited during start: ${lastLine(logFile)}`, logFile);
    const h = await s.health();
    if (h.ok) return;
    last = h.detail;
    await sleep(300);
  }
  throw new StackError(s.name, `did not answer within ${s.startTimeoutS}s (last check: ${last})`, logFile);
}

function writeIfChanged(file: string, content: string): void {
  if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === content) return;
  fs.writeFileSync(file, content);
}

export function buildServices(cfg: Config, p: StackPaths): ServiceSpec[] {
  const host = cfg.SPICE_HOST;

  const temporal: ServiceSpec = {
    name: 'temporal',
    ports: [cfg.TEMPORAL_PORT, cfg.TEMPORAL_UI_PORT, cfg.TEMPORAL_HTTP_PORT, cfg.TEMPORAL_METRICS_PORT],
    startTimeoutS: 90,
    // The server backend's binaries come with the CLI whichever backend runs: its integration test
    // (test/int/temporal-server.int.test.ts) starts one on ports of its own.
    installed: () => fs.existsSync(p.temporalBin) && temporalServerInstalled(p),
    async install() {
      requireTool('go', 'temporal', 'install Go >= 1.25 from the Debian packages or go.dev');
      if (!fs.existsSync(p.temporalBin)) {
        await run('go', ['install', `github.com/temporalio/cli/cmd/temporal@${VERSIONS.temporalCli}`], {
          env: goEnv(p, path.dirname(p.temporalBin)),
          logFile: path.join(p.logs, 'temporal-install.log'),
          service: 'temporal',
        });
      }
      if (!temporalServerInstalled(p)) await installTemporalServer(p);
    },
    async prepare() {
      const dir = path.join(p.data, 'temporal');
      fs.mkdirSync(dir, { recursive: true });
      const args = [
        'server',
        'start-dev',
        '--ip',
        cfg.TEMPORAL_BIND_HOST,
        '--ui-ip',
        cfg.TEMPORAL_UI_BIND_HOST,
        '--port',
        String(cfg.TEMPORAL_PORT),
        '--ui-port',
        String(cfg.TEMPORAL_UI_PORT),
        '--metrics-port',
        String(cfg.TEMPORAL_METRICS_PORT),
        '--http-port',
        String(cfg.TEMPORAL_HTTP_PORT),
        '--namespace',
        cfg.TEMPORAL_NAMESPACE,
        '--db-filename',
        path.join(dir, 'temporal.db'),
        // WAL keeps the single SQLite connection from serialising readers behind every fsync.
        '--sqlite-pragma',
        'journal_mode=WAL',
        '--sqlite-pragma',
        'synchronous=NORMAL',
        '--dynamic-config-value',
        'system.enableActivityEagerExecution=true',
        '--dynamic-config-value',
        'frontend.enableUpdateWorkflowExecution=true',
        // One partition per task queue: every poller waits where every task lands, so a command's
        // one workflow task is matched at once instead of being forwarded between partitions.
        '--dynamic-config-value',
        'matching.numTaskqueueReadPartitions=1',
        '--dynamic-config-value',
        'matching.numTaskqueueWritePartitions=1',
        '--log-level',
        'warn',
      ];
      for (const sa of SEARCH_ATTRIBUTES) args.push('--search-attribute', `${sa}=Keyword`);
      return { cmd: p.temporalBin, args };
    },
    async health() {
      const r = await runQuiet(p.temporalBin, ['operator', 'cluster', 'health', '--address', `${host}:${cfg.TEMPORAL_PORT}`]);
      if (!r.ok) return { ok: false, detail: r.output.trim().split('\n').pop() ?? 'not serving' };
      const ui = await httpOk(`http://${host}:${cfg.TEMPORAL_UI_PORT}/`);
      if (!ui.ok) return { ok: false, detail: `Web UI: HTTP ${ui.status}` };
      return { ok: true, detail: 'SERVING' };
    },
    endpoints: () => [`frontend ${host}:${cfg.TEMPORAL_PORT}`, `Web UI http://${host}:${cfg.TEMPORAL_UI_PORT}`],
  };

  const minio: ServiceSpec = {
    name: 'minio',
    ports: [cfg.MINIO_PORT, cfg.MINIO_CONSOLE_PORT],
    startTimeoutS: 60,
    installed: () => fs.existsSync(p.minioBin) && fs.existsSync(p.mcBin),
    async install() {
      requireTool('go', 'minio', 'install Go >= 1.24 from the Debian packages or go.dev');
      for (const [module, bin] of [
        [`github.com/minio/minio@${VERSIONS.minio}`, p.minioBin],
        [`github.com/minio/mc@${VERSIONS.mc}`, p.mcBin],
      ]) {
        if (fs.existsSync(bin)) continue;
        await run('go', ['install', module], { env: goEnv(p, path.dirname(bin)), logFile: path.join(p.logs, 'minio-install.log'), service: 'minio' });
      }
    },
    async prepare() {
      const dir = path.join(p.data, 'minio');
      fs.mkdirSync(dir, { recursive: true });
      return {
        cmd: p.minioBin,
        args: ['server', dir, '--address', `${cfg.MINIO_BIND_HOST}:${cfg.MINIO_PORT}`, '--console-address', `${cfg.MINIO_CONSOLE_BIND_HOST}:${cfg.MINIO_CONSOLE_PORT}`, '--quiet'],
        env: {
          ...process.env,
          MINIO_ROOT_USER: cfg.MINIO_ROOT_USER,
          MINIO_ROOT_PASSWORD: cfg.MINIO_ROOT_PASSWORD,
          MINIO_UPDATE: 'off',
          MINIO_BROWSER: 'on',
        },
      };
    },
    async health() {
      const r = await httpOk(`http://${host}:${cfg.MINIO_PORT}/minio/health/live`);
      return { ok: r.ok, detail: r.ok ? 'live' : `HTTP ${r.status} ${r.body.slice(0, 80)}` };
    },
    afterStart: () => provisionMinioAppUser(cfg, { mcBin: p.mcBin, configDir: path.join(p.run, 'mc') }),
    endpoints: () => [`S3 http://${host}:${cfg.MINIO_PORT} (app user ${cfg.S3_ACCESS_KEY})`, `console http://${host}:${cfg.MINIO_CONSOLE_PORT}`],
  };

  const kafkaLibs = path.join(p.kafkaDir, 'libs');
  const kafka: ServiceSpec = {
    name: 'kafka',
    ports: [cfg.KAFKA_PORT, cfg.KAFKA_CONTROLLER_PORT],
    // Its JVM starts beside OpenSearch's on 2 cores: the first metadata publish alone took 66 s once.
    startTimeoutS: 240,
    installed: () => fs.existsSync(path.join(kafkaLibs, `kafka_2.13-${VERSIONS.kafka}.jar`)),
    async install() {
      requireTool('java', 'kafka', 'install a JDK >= 11 (Debian: openjdk-17-jre-headless)');
      requireTool('mvn', 'kafka', 'install Maven (Debian: maven)');
      fs.mkdirSync(p.kafkaDir, { recursive: true });
      fs.writeFileSync(path.join(p.kafkaDir, 'pom.xml'), kafkaPom());
      await run('mvn', ['-B', '-q', 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${kafkaLibs}`], {
        cwd: p.kafkaDir,
        logFile: path.join(p.logs, 'kafka-install.log'),
        service: 'kafka',
      });
    },
    async prepare() {
      const dir = path.join(p.data, 'kafka');
      const logDirs = path.join(dir, 'log');
      fs.mkdirSync(logDirs, { recursive: true });
      const props = path.join(dir, 'server.properties');
      writeIfChanged(props, kafkaProperties(cfg, logDirs));
      fs.writeFileSync(path.join(dir, 'log4j.properties'), KAFKA_LOG4J);
      const cp = `${kafkaLibs}/*`;
      const clusterIdFile = path.join(dir, 'cluster.id');
      if (!fs.existsSync(path.join(logDirs, 'meta.properties'))) {
        // A fixed cluster id per data directory: formatting is what the KRaft quorum needs once.
        const id = fs.existsSync(clusterIdFile) ? fs.readFileSync(clusterIdFile, 'utf8').trim() : kafkaClusterId();
        fs.writeFileSync(clusterIdFile, id);
        await run('java', ['-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', id, '-c', props, '--ignore-formatted'], {
          logFile: path.join(p.logs, 'kafka-format.log'),
          service: 'kafka',
        });
      }
      return {
        cmd: 'java',
        args: [
          `-Xmx${cfg.KAFKA_HEAP}`,
          `-Xms${cfg.KAFKA_HEAP}`,
          '-XX:+UseG1GC',
          '-XX:MaxGCPauseMillis=20',
          '-Djava.awt.headless=true',
          `-Dlog4j.configuration=file:${path.join(dir, 'log4j.properties')}`,
          '-cp',
          cp,
          'kafka.Kafka',
          props,
        ],
      };
    },
    async health() {
      if (!(await portOpen(host, cfg.KAFKA_PORT))) return { ok: false, detail: 'broker port closed' };
      // Only a metadata round trip proves the broker has joined its KRaft quorum.
      const { Kafka, logLevel } = await import('kafkajs');
      const admin = new Kafka({ brokers: cfg.kafkaBrokers, logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1500, requestTimeout: 3000 }).admin();
      try {
        await admin.connect();
        const c = await admin.describeCluster();
        return { ok: c.brokers.length > 0 && c.controller !== null, detail: `${c.brokers.length} broker(s), controller ${c.controller}` };
      } catch (e) {
        return { ok: false, detail: (e as Error).message };
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    },
    endpoints: () => [`bootstrap ${cfg.kafkaBrokers.join(',')}`],
  };

  const pgBin = () => postgresBinDir();
  const pgAsPostgres = (): { uid?: number; gid?: number } => (process.getuid?.() === 0 ? postgresUser() : {});
  const postgres: ServiceSpec = {
    name: 'postgres',
    ports: [cfg.PG_PORT],
    startTimeoutS: 60,
    installed: () => pgBin() !== null,
    async install() {
      if (process.getuid?.() !== 0) throw new Error('postgres: not installed and not root; run: sudo apt-get install -y postgresql');
      const log = path.join(p.logs, 'postgres-install.log');
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      await run('apt-get', ['update', '-q'], { env, logFile: log, service: 'postgres' });
      await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'postgresql'], { env, logFile: log, service: 'postgres' });
    },
    async prepare() {
      const bin = pgBin();
      if (!bin) throw new Error('postgres: binaries not found after install');
      const owner = pgAsPostgres();
      for (const d of [path.dirname(p.pgData), p.pgSocketDir]) {
        fs.mkdirSync(d, { recursive: true });
        if (owner.uid !== undefined) fs.chownSync(d, owner.uid, owner.gid!);
      }
      if (!fs.existsSync(path.join(p.pgData, 'PG_VERSION'))) {
        await run(path.join(bin, 'initdb'), ['-D', p.pgData, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8'], {
          logFile: path.join(p.logs, 'postgres-initdb.log'),
          service: 'postgres',
          ...owner,
        });
      }
      removeStalePostmasterPid(p.pgData);
      return {
        cmd: path.join(bin, 'postgres'),
        args: [
          '-D',
          p.pgData,
          '-c',
          `listen_addresses=${cfg.PG_BIND_HOST}`,
          '-c',
          `port=${cfg.PG_PORT}`,
          '-c',
          `unix_socket_directories=${p.pgSocketDir}`,
          '-c',
          'max_connections=300',
          '-c',
          'shared_buffers=256MB',
        ],
        ...owner,
      };
    },
    async health() {
      const bin = pgBin();
      if (!bin) return { ok: false, detail: 'not installed' };
      const r = await runQuiet(path.join(bin, 'pg_isready'), ['-h', host, '-p', String(cfg.PG_PORT)]);
      return { ok: r.ok, detail: r.output.trim() };
    },
    async afterStart() {
      const bin = pgBin()!;
      // SQL on stdin: a password in -c would be on psql's command line, visible in `ps`. Terse errors: a
      // verbose one quotes the statement, password included.
      const psql = (sql: string, db = 'postgres') =>
        runQuiet(path.join(bin, 'psql'), ['-h', p.pgSocketDir, '-p', String(cfg.PG_PORT), '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=terse', '-tA'], 5000, { input: sql });
      // Created, or brought back to its attributes and password (a data directory kept from an earlier run).
      const ensureRole = async (user: string, password: string, attributes: string) => {
        const exists = await psql(`SELECT 1 FROM pg_roles WHERE rolname = '${user.replace(/'/g, "''")}'`);
        const r = await psql(`${exists.output.trim() === '1' ? 'ALTER' : 'CREATE'} ROLE "${user.replace(/"/g, '""')}" WITH ${attributes} PASSWORD '${password.replace(/'/g, "''")}'`);
        if (!r.ok) throw new Error(`postgres: cannot create role ${user}: ${r.output.trim()}`);
      };
      // The owner migrates (README "Least privilege"); the app role owns nothing, so it changes no schema. The
      // owner's processes grant it the rows (src/adapters/postgres/runtime-role.ts).
      await ensureRole(cfg.PG_USER, cfg.PG_PASSWORD, 'LOGIN CREATEDB');
      await ensureRole(cfg.PG_APP_USER, cfg.PG_APP_PASSWORD, 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE');
      const role = cfg.PG_USER.replace(/"/g, '""');
      const db = await psql(`SELECT 1 FROM pg_database WHERE datname = '${cfg.PG_DATABASE}'`);
      if (db.output.trim() !== '1') {
        const r2 = await psql(`CREATE DATABASE "${cfg.PG_DATABASE}" OWNER "${role}"`);
        if (!r2.ok) throw new Error(`postgres: cannot create database ${cfg.PG_DATABASE}: ${r2.output.trim()}`);
      }
    },
    endpoints: () => [`postgres://${cfg.PG_USER}:***@${host}:${cfg.PG_PORT}/${cfg.PG_DATABASE} (owner)`, `postgres://${cfg.PG_APP_USER}:***@${host}:${cfg.PG_PORT}/${cfg.PG_DATABASE} (app)`],
  };

  // Start order: the stores first, Temporal last (its start is the slowest to answer).
  // The server keeps its state in PostgreSQL and is driven through the CLI (health, namespace, search attributes).
  const temporalBackend = cfg.TEMPORAL_BACKEND === 'server' ? { ...temporalServerService(cfg, p, p.temporalBin), installed: temporal.installed, install: temporal.install } : temporal;
  return [postgres, minio, kafka, ...(cfg.SEARCH_ENGINE === 'opensearch' ? [openSearchService(cfg, p)] : []), temporalBackend];
}

const OPENSEARCH_SOURCES = path.join(__dirname, 'opensearch');
const LAUNCHER_CLASS = 'SpiceOpenSearchNode';

/** The launcher is compiled per version of its source: a changed launcher is rebuilt, an unchanged one is not. */
function launcherStamp(): string {
  const source = fs.readFileSync(path.join(OPENSEARCH_SOURCES, `${LAUNCHER_CLASS}.java`));
  return crypto.createHash('sha256').update(source).digest('hex').slice(0, 16);
}

/**
 * OpenSearch from Maven Central: no distribution is published there, only the jars, so a small
 * launcher (scripts/stack/opensearch) starts a node in-process with its plugins on the classpath.
 */
function openSearchService(cfg: Config, p: StackPaths): ServiceSpec {
  const host = cfg.SPICE_HOST;
  const libs = path.join(p.opensearchDir, 'libs');
  const classes = () => path.join(p.opensearchDir, `launcher-${launcherStamp()}`);
  const home = path.join(p.data, 'opensearch');
  const url = `http://${host}:${cfg.OPENSEARCH_PORT}`;
  return {
    name: 'opensearch',
    ports: [cfg.OPENSEARCH_PORT, cfg.OPENSEARCH_TRANSPORT_PORT],
    // A cold JVM on a busy 2-core machine takes a while: measured 20 s idle, up to 3 minutes under load.
    startTimeoutS: 300,
    installed: () =>
      fs.existsSync(path.join(libs, `opensearch-${VERSIONS.opensearch}.jar`)) &&
      fs.existsSync(path.join(libs, `log4j-core-${VERSIONS.log4j}.jar`)) &&
      fs.existsSync(path.join(classes(), `${LAUNCHER_CLASS}.class`)),
    async install() {
      requireTool('java', 'opensearch', 'install a JDK >= 17 (Debian: openjdk-17-jdk-headless), or set SEARCH_ENGINE=postgres');
      requireTool('javac', 'opensearch', 'install a JDK >= 17 (Debian: openjdk-17-jdk-headless), or set SEARCH_ENGINE=postgres');
      requireTool('mvn', 'opensearch', 'install Maven (Debian: maven), or set SEARCH_ENGINE=postgres');
      const log = path.join(p.logs, 'opensearch-install.log');
      fs.mkdirSync(p.opensearchDir, { recursive: true });
      if (!fs.existsSync(path.join(libs, `log4j-core-${VERSIONS.log4j}.jar`))) {
        fs.writeFileSync(path.join(p.opensearchDir, 'pom.xml'), openSearchPom());
        await run('mvn', ['-B', '-q', 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${libs}`], {
          cwd: p.opensearchDir,
          logFile: log,
          service: 'opensearch',
        });
      }
      // Compiled into a temporary directory and renamed: a half-written launcher never counts as installed.
      const target = classes();
      const tmp = `${target}.tmp-${process.pid}`;
      fs.rmSync(tmp, { recursive: true, force: true });
      await run('javac', ['-d', tmp, '-cp', `${libs}/*`, path.join(OPENSEARCH_SOURCES, `${LAUNCHER_CLASS}.java`)], { logFile: log, service: 'opensearch' });
      fs.rmSync(target, { recursive: true, force: true });
      fs.renameSync(tmp, target);
    },
    async prepare() {
      const config = path.join(home, 'config');
      fs.mkdirSync(config, { recursive: true });
      for (const d of ['data', 'tmp']) fs.mkdirSync(path.join(home, d), { recursive: true });
      const log4j = path.join(config, 'log4j2.properties');
      fs.copyFileSync(path.join(OPENSEARCH_SOURCES, 'log4j2.properties'), log4j);
      writeIfChanged(path.join(config, 'opensearch.yml'), openSearchYml(cfg, home));
      return {
        cmd: 'java',
        args: [
          `-Xmx${cfg.OPENSEARCH_HEAP}`,
          `-Xms${cfg.OPENSEARCH_HEAP}`,
          '-XX:+UseG1GC',
          '-Djava.awt.headless=true',
          '-Dfile.encoding=UTF-8',
          `-Djava.io.tmpdir=${path.join(home, 'tmp')}`,
          `-Dlog4j2.configurationFile=${log4j}`,
          '-Dlog4j2.disable.jmx=true',
          '-cp',
          `${classes()}:${libs}/*`,
          LAUNCHER_CLASS,
          home,
        ],
      };
    },
    async health() {
      const r = await httpOk(`${url}/_cluster/health`);
      if (!r.ok) return { ok: false, detail: r.status ? `HTTP ${r.status}` : r.body.slice(0, 80) };
      const status = (JSON.parse(r.body) as { status?: string }).status ?? 'unknown';
      return { ok: status === 'green' || status === 'yellow', detail: `cluster ${status}` };
    },
    endpoints: () => [`HTTP ${url}`],
  };
}

function openSearchPom(): string {
  const plugin = (a: string) => `<dependency><groupId>org.opensearch.plugin</groupId><artifactId>${a}</artifactId><version>${VERSIONS.opensearch}</version></dependency>`;
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>spice-oms</groupId><artifactId>opensearch-runtime</artifactId><version>${VERSIONS.opensearch}</version>
  <dependencyManagement><dependencies>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>${VERSIONS.log4j}</version></dependency>
  </dependencies></dependencyManagement>
  <dependencies>
    <dependency><groupId>org.opensearch</groupId><artifactId>opensearch</artifactId><version>${VERSIONS.opensearch}</version></dependency>
    ${plugin('transport-netty4-client')}
    ${plugin('analysis-common')}
    ${plugin('lang-painless')}
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${VERSIONS.log4j}</version></dependency>
  </dependencies>
</project>
`;
}

function openSearchYml(cfg: Config, home: string): string {
  return [
    'cluster.name: spice-oms',
    'node.name: spice-oms',
    `path.data: ${path.join(home, 'data')}`,
    `path.logs: ${path.join(home, 'logs')}`,
    `network.host: ${cfg.SPICE_HOST}`,
    `http.port: ${cfg.OPENSEARCH_PORT}`,
    `transport.port: ${cfg.OPENSEARCH_TRANSPORT_PORT}`,
    'discovery.type: single-node',
    // A development node on a shared disk: never turn indices read-only because the disk is full-ish.
    'cluster.routing.allocation.disk.threshold_enabled: false',
    // Indices are created by spice-oms with explicit mappings; a write to a missing index is a bug or a deleted database.
    'action.auto_create_index: false',
    '',
  ].join('\n');
}

/**
 * A postgres killed without a shutdown (a reboot, a killed session) leaves postmaster.pid behind;
 * if its pid now belongs to another process, postgres refuses to start. Only a postgres process
 * holding that pid keeps the file.
 */
function removeStalePostmasterPid(dataDir: string): void {
  const file = path.join(dataDir, 'postmaster.pid');
  if (!fs.existsSync(file)) return;
  const pid = Number(fs.readFileSync(file, 'utf8').split('\n')[0]);
  let cmdline = '';
  try {
    cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    /* no such process */
  }
  if (!cmdline.includes('postgres')) fs.rmSync(file);
}

export function postgresBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return null;
  const majors = fs
    .readdirSync(base)
    .filter((d) => /^\d+$/.test(d))
    .sort((a, b) => Number(b) - Number(a));
  for (const m of majors) {
    const bin = path.join(base, m, 'bin');
    if (fs.existsSync(path.join(bin, 'postgres')) && fs.existsSync(path.join(bin, 'initdb'))) return bin;
  }
  return null;
}

function postgresUser(): { uid: number; gid: number } {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error("postgres: the 'postgres' system user is missing (it comes with Debian's postgresql package)");
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function kafkaClusterId(): string {
  // A KRaft cluster id is 16 random bytes in URL-safe base64 without padding.
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64url');
}

function kafkaPom(): string {
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>spice-oms</groupId><artifactId>kafka-runtime</artifactId><version>${VERSIONS.kafka}</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${VERSIONS.kafka}</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>${VERSIONS.slf4jReload4j}</version></dependency>
  </dependencies>
</project>
`;
}

function kafkaProperties(cfg: Config, logDirs: string): string {
  // The controller stays on loopback: only this broker talks to it. Clients are told SPICE_HOST.
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${cfg.KAFKA_CONTROLLER_PORT}`,
    `listeners=PLAINTEXT://${cfg.KAFKA_BIND_HOST}:${cfg.KAFKA_PORT},CONTROLLER://127.0.0.1:${cfg.KAFKA_CONTROLLER_PORT}`,
    `advertised.listeners=PLAINTEXT://${cfg.SPICE_HOST}:${cfg.KAFKA_PORT}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${logDirs}`,
    `num.partitions=${cfg.KAFKA_PARTITIONS}`,
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'log.retention.hours=168',
    '',
  ].join('\n');
}

const KAFKA_LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
`;

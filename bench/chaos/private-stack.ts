/**
 * Services of the chaos run's own: the stack's service specs (scripts/stack/services.ts) with the
 * installed binaries, on ports shifted by `offset` and with data, logs and pids in a directory of
 * their own, so they can be stopped hard and started again while the shared stack serves everyone
 * else. Stopped by the pids this module started, never by name.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/app/config';
import { buildServices, portOpen, stackPaths, waitHealthy, type ServiceSpec } from '../../scripts/stack/services';
import { isAlive, sleep, spawnDetached } from '../../scripts/stack/proc';
import { Connection } from '@temporalio/client';

export type PrivateService = 'postgres' | 'minio' | 'kafka' | 'temporal';

const PORTS: Record<PrivateService, (keyof Config)[]> = {
  postgres: ['PG_PORT'],
  minio: ['MINIO_PORT', 'MINIO_CONSOLE_PORT'],
  kafka: ['KAFKA_PORT', 'KAFKA_CONTROLLER_PORT'],
  temporal: ['TEMPORAL_PORT', 'TEMPORAL_UI_PORT', 'TEMPORAL_HTTP_PORT', 'TEMPORAL_METRICS_PORT'],
};

export interface PrivateStack {
  /** What the processes of the run set in their environment to reach these services. */
  env: Record<string, string>;
  config: Config;
  start(name: PrivateService): Promise<number>;
  /** A hard stop: SIGKILL, or PostgreSQL's immediate shutdown (SIGQUIT to the postmaster). */
  stop(name: PrivateService): Promise<void>;
  /** Stops everything and removes the data. */
  destroy(): Promise<void>;
}

export async function startPrivateStack(base: NodeJS.ProcessEnv, names: PrivateService[], dir: string, offset = 1000): Promise<PrivateStack> {
  const shared = loadConfig(base);
  const env: Record<string, string> = { SEARCH_ENGINE: 'postgres' };
  // Shifted ports can meet the stack's own (Temporal's 7233 + 1000 is its Web UI's 8233): the next free one then.
  const taken = new Set<number>();
  for (const n of names)
    for (const k of PORTS[n]) {
      let port = Number(shared[k]) + offset;
      while (taken.has(port) || (await portOpen(shared.SPICE_HOST, port))) port++;
      taken.add(port);
      env[k] = String(port);
    }
  // Addresses follow from the ports (an explicit TEMPORAL_ADDRESS, DATABASE_URL, ... would win: leave them unset).
  const config = loadConfig({ ...base, ...env });
  const paths = { ...stackPaths(config), data: path.join(dir, 'data'), logs: path.join(dir, 'logs'), run: path.join(dir, 'run') };
  for (const d of [paths.data, paths.logs, paths.run]) fs.mkdirSync(d, { recursive: true });
  const services = new Map(buildServices(config, paths).map((s) => [s.name as string, s]));
  const pids = new Map<PrivateService, number>();
  const logFile = (s: ServiceSpec) => path.join(paths.logs, `${s.name}.log`);

  const stack: PrivateStack = {
    env,
    config,
    async start(name) {
      const s = services.get(name)!;
      const spec = await s.prepare();
      const pid = spawnDetached(spec.cmd, spec.args, logFile(s), spec.env, spec.uid, spec.gid);
      pids.set(name, pid);
      await waitHealthy(s, pid, logFile(s));
      await s.afterStart?.();
      // SERVING comes before the frontend's namespace registry has loaded the namespace: a client
      // then gets NamespaceNotFound for a while, so the service counts as up only once it is known.
      if (name === 'temporal') await waitForNamespace(config);
      return pid;
    },
    async stop(name) {
      const pid = pids.get(name);
      if (pid === undefined) return;
      pids.delete(name);
      // Gone already (a failed start): nothing to stop.
      if (!isAlive(pid)) return;
      process.kill(pid, name === 'postgres' ? 'SIGQUIT' : 'SIGKILL');
      while (isAlive(pid)) await sleep(50);
      // PostgreSQL's backends outlive an immediate shutdown by a moment: the port must be free again.
      if (name === 'postgres') await sleep(500);
    },
    async destroy() {
      for (const n of [...pids.keys()]) await stack.stop(n);
      fs.rmSync(dir, { recursive: true, force: true });
      if (names.includes('postgres')) fs.rmSync(paths.pgData, { recursive: true, force: true });
    },
  };
  try {
    // One at a time: on two cores, JVMs and Go servers starting together take longer than in turn.
    for (const n of names) await stack.start(n);
  } catch (err) {
    await stack.destroy();
    throw err;
  }
  return stack;
}

async function waitForNamespace(config: Config, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const connection = await Connection.connect({ address: config.temporalAddress, connectTimeout: 5000 }).catch((e: unknown) => ((last = e), undefined));
    try {
      if (connection) {
        await connection.workflowService.describeNamespace({ namespace: config.TEMPORAL_NAMESPACE });
        return;
      }
    } catch (e) {
      last = e;
    } finally {
      await connection?.close();
    }
    await sleep(500);
  }
  throw new Error(`Temporal namespace ${config.TEMPORAL_NAMESPACE} not known within ${timeoutMs} ms: ${String(last)}`);
}

/**
 * What every ops command gets: the validated config, the --json switch, lazily opened connections
 * (PostgreSQL, Temporal) and the output helpers: a readable line or JSON on stdout, a progress bar
 * on stderr while a migration workflow runs.
 */
import os from 'node:os';
import { Client, Connection } from '@temporalio/client';
import cliProgress from 'cli-progress';
import type { Pool } from 'pg';
import { Config, loadConfig } from '../config';
import { createOwnerPool } from '../../adapters/postgres/postgres';
import { migrate } from '../../adapters/postgres/migrations';
import { PgStorageModeRepository } from '../../adapters/postgres/storage-mode-repository';
import { MigrationOps } from '../migration-ops';
import { temporalConnectionOptions } from '../temporal-connection';
import type { MigrationKindName, MigrationProgress } from '../../workflows/migration';

export interface OpsContext {
  config: Config;
  /** The task queue the commands' workers serve (--task-queue, default TEMPORAL_TASK_QUEUE). */
  taskQueue(): string;
  schema(): string;
  json(): boolean;
  actor(): string;
  client(): Promise<Client>;
  /** The schemas' owner (DATABASE_OWNER_URL): a command migrates the tables it uses before it runs, like a process start. */
  pool(): Pool;
  ops(): Promise<MigrationOps>;
  /** Prints `data` as JSON with --json, else the text. */
  print(text: string, data: unknown): void;
  /** Follows a migration workflow to its end with a progress bar (rate, ETA); returns its outcome. */
  follow(kind: MigrationKindName): Promise<MigrationProgress>;
  close(): Promise<void>;
}

export interface GlobalOptions {
  json?: boolean;
  taskQueue?: string;
  schema?: string;
  actor?: string;
}

export function createOpsContext(globals: () => GlobalOptions, config: Config = loadConfig()): OpsContext {
  let connection: Promise<Connection> | undefined;
  let pool: Pool | undefined;
  let ops: Promise<MigrationOps> | undefined;
  const ctx: OpsContext = {
    config,
    taskQueue: () => globals().taskQueue ?? config.TEMPORAL_TASK_QUEUE,
    schema: () => globals().schema ?? 'spice',
    json: () => globals().json === true,
    actor: () => globals().actor ?? `cli:${os.userInfo().username}`,
    async client() {
      connection ??= Connection.connect(temporalConnectionOptions(config));
      return new Client({ connection: await connection, namespace: config.TEMPORAL_NAMESPACE });
    },
    pool() {
      pool ??= createOwnerPool(config);
      return pool;
    },
    ops() {
      ops ??= (async () => {
        const modes = new PgStorageModeRepository(ctx.pool(), ctx.schema());
        await migrate(ctx.pool(), ctx.schema());
        await modes.init(config.storageMode);
        return new MigrationOps({ modes, client: await ctx.client(), taskQueue: ctx.taskQueue(), propagationMs: 2 * config.STORAGE_MODE_REFRESH_MS });
      })();
      return ops;
    },
    print(text, data) {
      process.stdout.write(ctx.json() ? `${JSON.stringify(data, null, 2)}\n` : `${text}\n`);
    },
    async follow(kind) {
      const o = await ctx.ops();
      const bar = ctx.json()
        ? undefined
        : new cliProgress.SingleBar(
            {
              format: `${kind} [{bar}] {percentage}% | {value}/{total} events | {rate}/s | ETA {eta_formatted} | {state}`,
              stream: process.stderr,
              noTTYOutput: true,
              notTTYSchedule: 5000,
              etaBuffer: 30,
            },
            cliProgress.Presets.shades_classic,
          );
      let started = false;
      for (;;) {
        const s = await o.status(kind);
        const p = s?.progress;
        if (bar && p) {
          const total = Math.max(p.total ?? p.processed, p.processed, 1);
          const payload = { rate: p.elapsed_s > 0 ? Math.round(p.processed / p.elapsed_s) : 0, state: p.paused ? 'paused' : s!.status.toLowerCase() };
          if (!started) bar.start(total, p.processed, payload);
          else {
            bar.setTotal(total);
            bar.update(p.processed, payload);
          }
          started = true;
        }
        if (s && s.status !== 'RUNNING') {
          bar?.stop();
          if (s.status !== 'COMPLETED' || !p) throw new Error(`${kind} ended ${s.status}`);
          return p;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
    async close() {
      await pool?.end().catch(() => undefined);
      if (connection) await (await connection).close().catch(() => undefined);
    },
  };
  return ctx;
}

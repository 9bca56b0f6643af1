/**
 * The API in its own OS process, through the same entry as `npm run api` (runApiProcess): signals,
 * exit codes and start-up failures are the real ones. The test's isolation (schemas, S3 prefix,
 * topic, task queue) comes in SPICE_TEST_API as JSON; the port, the embedded worker and the bounds
 * come in the environment like any setting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from '../../src/app/config';
import { runApiProcess } from '../../src/app/api-server';
import { exitStartFailed } from '../../src/app/startup';

export interface ApiProcessSpec {
  schema: string;
  readModelSchema: string;
  s3Prefix: string;
  topic: string;
  taskQueue: string;
}

export interface SpawnedProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name), or rejects after timeoutMs. */
  exited(timeoutMs: number): Promise<number | string>;
  /** Resolves once stdout holds `text`. */
  printed(text: string, timeoutMs: number): Promise<void>;
  kill(): void;
}

const ROOT = path.join(__dirname, '..', '..');

/** Runs `node --require tsx/cjs <file> [args]` from the repository root, as scripts/start.ts does. */
export function spawnTs(file: string, env: Record<string, string | undefined>, args: string[] = []): SpawnedProcess {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', file, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const within = <T>(p: Promise<T>, ms: number, what: string) =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} not within ${ms} ms; stdout: ${out.slice(-2000)}; stderr: ${err.slice(-2000)}`)), ms).unref())]);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: (ms) => within(exit, ms, `${file} exit`),
    printed: (text, ms) =>
      within(
        new Promise<void>((resolve, reject) => {
          const look = () => {
            if (out.includes(text)) resolve();
          };
          child.stdout!.on('data', look);
          void exit.then(() => reject(new Error(`${file} exited before printing '${text}'; stderr: ${err.slice(-2000)}`)));
          look();
        }),
        ms,
        `'${text}' from ${file}`,
      ),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

export function spawnApiProcess(spec: ApiProcessSpec, env: Record<string, string | undefined>): SpawnedProcess {
  return spawnTs(path.relative(ROOT, __filename), { LOG_LEVEL: 'info', ...env, SPICE_TEST_API: JSON.stringify(spec) });
}

if (require.main === module) {
  const spec = JSON.parse(process.env.SPICE_TEST_API ?? '{}') as ApiProcessSpec;
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    exitStartFailed('api', err);
  }
  void runApiProcess(config, spec);
}

/**
 * The main job (`npm start`, after the stack is up): the API, one worker and the audit consumer as child processes,
 * their logs interleaved with a prefix, all stopped together on Ctrl-C. A child that stops on its
 * own (e.g. its port is taken) stops the others and ends `npm start` with a non-zero code; this
 * process exits only once its children are gone, so none is left running behind it.
 */
import { spawn, ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { loadConfig } from '../src/app/config';
import { exitStartFailed } from '../src/app/startup';

let cfg: ReturnType<typeof loadConfig>;
try {
  cfg = loadConfig();
} catch (err) {
  exitStartFailed('start', err);
}
const children: ChildProcess[] = [];
/** Past the worker's drain (its grace, then the SDK's forced stop) and the API's grace, a child still there is killed. */
const stopBoundMs = Math.max(cfg.workerShutdown.forceAfterMs, cfg.SHUTDOWN_GRACE_MS) + 5000;

function launch(name: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  for (const stream of [child.stdout!, child.stderr!]) {
    readline.createInterface({ input: stream }).on('line', (l) => process.stdout.write(`${name.padEnd(6)}| ${l}\n`));
  }
  process.stdout.write(`${name.padEnd(6)}| started (pid ${child.pid})\n`);
  child.once('exit', (code, signal) => {
    process.stdout.write(`${name.padEnd(6)}| exited (${signal ?? code})\n`);
    // A child that ends while nothing asked it to is a failure of the whole, even with code 0.
    shutdown(code === 0 || code === null ? 1 : code);
  });
  children.push(child);
  return child;
}

const running = () => children.filter((c) => c.exitCode === null && c.signalCode === null);
let stopping = false;
function shutdown(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const c of running()) c.kill('SIGTERM');
  const killer = setTimeout(() => {
    for (const c of running()) {
      process.stdout.write(`start | pid ${c.pid} still running after ${stopBoundMs} ms: killed\n`);
      c.kill('SIGKILL');
    }
  }, stopBoundMs);
  void Promise.all(running().map((c) => new Promise((r) => c.once('exit', r)))).then(() => {
    clearTimeout(killer);
    process.exit(code);
  });
}
function onSignal(): void {
  if (!stopping) return shutdown(0);
  // A second Ctrl-C: stop waiting for the drain.
  for (const c of running()) c.kill('SIGKILL');
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

/** The quick start's key: the built-in development admin key, accepted on loopback only. */
function apiKeyLine(): string {
  if (cfg.API_AUTH === 'off') return 'none needed (API_AUTH=off, development only)';
  if (cfg.API_DEV_KEY) return `${cfg.API_DEV_KEY}   (development admin key: -H 'authorization: Bearer ${cfg.API_DEV_KEY}')`;
  return 'create one: npm run ops -- keys create --name me --role admin';
}

launch('worker', ['worker.ts']);
launch('api', ['src/app/api-server.ts']);
launch('audit', ['src/app/consumer.ts', 'audit']);
process.stdout.write(
  [
    '',
    `  REST API      ${cfg.apiUrl}/api/v1   (OpenAPI: ${cfg.apiUrl}/api/v1/openapi.json)`,
    `  Health        ${cfg.apiUrl}/health/ready`,
    `  Temporal UI   ${cfg.temporalUiUrl}`,
    `  MinIO console http://${cfg.SPICE_HOST}:${cfg.MINIO_CONSOLE_PORT}  (bucket ${cfg.S3_BUCKET})`,
    `  Kafka         ${cfg.kafkaBrokers.join(',')}  (topic ${cfg.KAFKA_TOPIC})`,
    `  Storage mode  ${cfg.storageMode}`,
    `  Audit log     ${cfg.apiUrl}/api/v1/databases/<db>/audit   (consumer group spice-oms-audit)`,
    `  API key       ${apiKeyLine()}`,
    '  Ctrl-C stops the API, the worker and the audit consumer (a second Ctrl-C kills them); `npm run stack -- down` stops the services.',
    '',
  ].join('\n'),
);

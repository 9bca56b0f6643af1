/**
 * The main job (`npm start`, after the stack is up): the API, one worker and the audit consumer as
 * child processes, their logs interleaved with a prefix, all stopped together on Ctrl-C.
 */
import { spawn, ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { loadConfig } from '../src/app/config';

const cfg = loadConfig();
const children: ChildProcess[] = [];

function launch(name: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  for (const stream of [child.stdout!, child.stderr!]) {
    readline.createInterface({ input: stream }).on('line', (l) => process.stdout.write(`${name.padEnd(6)}| ${l}\n`));
  }
  child.once('exit', (code, signal) => {
    process.stdout.write(`${name.padEnd(6)}| exited (${signal ?? code})\n`);
    shutdown(code ?? 1);
  });
  children.push(child);
  return child;
}

let stopping = false;
function shutdown(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 5000).unref();
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined))).then(() => process.exit(code));
}
process.once('SIGINT', () => shutdown(0));
process.once('SIGTERM', () => shutdown(0));

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
    '  Ctrl-C stops the API, the worker and the audit consumer; `npm run stack -- down` stops the services.',
    '',
  ].join('\n'),
);

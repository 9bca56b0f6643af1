/**
 * Benchmark app process for the paths without Temporal (not part of the service):
 *   BENCH_MODE=direct  one request runs decide + S3 append + ledger record, then Kafka publish and
 *                      projection in parallel, inline (the activities' own code, no orchestration).
 *   BENCH_MODE=poll    one request runs decide + S3 append + outbox (ledger) row and answers; a
 *                      separate relay process (bench/poll-relay.ts) polls the outbox.
 * Env: BENCH_PORT, BENCH_SCHEMA, BENCH_PREFIX, KAFKA_TOPIC and the usual config variables.
 * POST /cmd {command_type, db_name?, payload} -> 200 {version, events} | 4xx/5xx {code, message}.
 */
import http from 'node:http';
import { randomUUID, createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { loadConfig } from '../src/app/config';
import { connectInfrastructure } from '../src/app/composition';
import { createActivities } from '../src/activities';
import { commandSchemas, type CommandType } from '../src/domain/commands';
import type { ProcessCommandInput } from '../src/contracts/workflows';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What Temporal's retry policy does for deliver/project: 50 ms initial, x2, capped at 5 s. */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const retryable = (err as { retryable?: boolean }).retryable !== false && !(err instanceof ApplicationFailure && err.nonRetryable);
      if (!retryable || attempt >= 30) throw err;
      await sleep(Math.min(5000, 50 * 2 ** attempt));
    }
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const mode = process.env.BENCH_MODE === 'poll' ? 'poll' : 'direct';
  const schema = process.env.BENCH_SCHEMA ?? `bench_${mode}`;
  const infra = await connectInfrastructure(config, {
    schema,
    readModelSchema: `${schema}_rm`,
    s3Prefix: process.env.BENCH_PREFIX ?? `${schema}/`,
    topic: config.KAFKA_TOPIC,
    poolMax: config.PG_POOL_MAX,
  });
  if (mode === 'direct') await infra.relay.start();
  const acts = createActivities(infra.activityDeps());

  async function handle(body: { command_type: CommandType; db_name?: string; payload: unknown }): Promise<unknown> {
    const schemaOf = commandSchemas[body.command_type];
    if (!schemaOf) throw Object.assign(new Error('unknown command type'), { status: 400 });
    const payload = schemaOf.parse(body.payload);
    const commandId = randomUUID();
    const command = { command_type: body.command_type, ...(body.db_name !== undefined ? { db_name: body.db_name } : {}), payload };
    const json = JSON.stringify(command);
    const input = {
      command_id: commandId,
      command_type: body.command_type,
      actor: 'bench',
      submitted_at: new Date().toISOString(),
      storage_mode: config.storageMode,
      request_hash: createHash('sha256').update(json).digest('hex'),
      command,
    } as unknown as ProcessCommandInput;
    const out = await acts.decideAndAppend(input);
    if (mode === 'direct') {
      const ids = out.events.map((e) => e.event_id);
      await Promise.all([retrying(() => acts.deliver(ids)), retrying(() => acts.project(out.events))]);
    }
    return { command_id: commandId, status: 'COMPLETED', result: { version: out.version, events: out.events } };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (req.method === 'GET' && req.url === '/health') return send(200, { ok: true });
      if (req.method !== 'POST' || req.url !== '/cmd') return send(404, { code: 'NOT_FOUND' });
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(400, { code: 'BAD_JSON' });
      }
      handle(body).then(
        (r) => send(200, r),
        (err: unknown) => {
          if (err instanceof ApplicationFailure && err.nonRetryable) return send(409, { code: err.type, message: err.message });
          const status = (err as { status?: number }).status ?? ((err as { name?: string }).name === 'ZodError' ? 422 : 500);
          send(status, { code: (err as { code?: string }).code ?? 'ERROR', message: (err as Error).message });
        },
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  const port = Number(process.env.BENCH_PORT ?? 0);
  await new Promise<void>((r) => server.listen(port, config.SPICE_HOST, r));
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : port}\n`);
  const stop = () => {
    server.close();
    void infra.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`inline-server: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

/**
 * Benchmark of the S3 event store against the local MinIO (not a test):
 *   npx tsx bench/adapters-event-store.ts [--n 400] [--json]
 * Single-event appends, concurrency 1 and 16, to distinct streams and to one hot stream
 * (hot-stream writers read the current version and retry on conflict). Prints a table and
 * writes bench/results/adapters-event-store-<timestamp>.json (git-ignored).
 */
import fs from 'node:fs';
import path from 'node:path';
import { envelopeOf, type EventEnvelope } from '../src/contracts/event-envelope';
import { VersionConflictError, type StreamId } from '../src/ports/event-store';
import { S3EventStore, createS3Client } from '../src/adapters/s3/s3-event-store';
import { loadConfig } from '../src/app/config';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('n', 400);

interface Row {
  scenario: string;
  concurrency: number;
  appends: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  appends_per_s: number;
  conflicts: number;
  requests_per_append: number;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

async function main() {
  const config = loadConfig();
  const client = createS3Client(config);
  let requests = 0;
  client.middlewareStack.add((next) => async (args) => (requests++, next(args)), { step: 'initialize', name: 'benchRequestCounter' });
  const runId = `bench-${Date.now().toString(36)}`;
  const store = new S3EventStore({ client, bucket: config.S3_BUCKET, endpoint: config.s3Endpoint, prefix: `bench/${runId}` });
  await store.ensureBucket();

  let cmd = 0;
  const event = (s: StreamId): EventEnvelope =>
    envelopeOf(
      { event_type: 'InstanceCreated', ...s, payload: { name: 'x'.repeat(200), n: cmd } },
      { commandId: `${runId}-${cmd++}`, position: 0, version: 0, occurredAt: new Date().toISOString(), actor: 'bench', storageMode: 's3_only' },
    );

  // warm-up: open connections
  await Promise.all(Array.from({ length: 16 }, (_, i) => store.append({ aggregate_type: 'Warm', aggregate_id: `w${i}` }, 'any', [event({ aggregate_type: 'Warm', aggregate_id: `w${i}` })])));

  const rows: Row[] = [];
  async function run(scenario: string, concurrency: number, op: (i: number) => Promise<number>) {
    const lat: number[] = [];
    let next = 0;
    let conflicts = 0;
    const r0 = requests;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < N) {
          const i = next++;
          const t = performance.now();
          conflicts += await op(i);
          lat.push(performance.now() - t);
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    const row: Row = {
      scenario,
      concurrency,
      appends: N,
      p50_ms: +pct(lat, 50).toFixed(2),
      p99_ms: +pct(lat, 99).toFixed(2),
      max_ms: +lat[lat.length - 1].toFixed(2),
      appends_per_s: +(N / secs).toFixed(1),
      conflicts,
      requests_per_append: +((requests - r0) / N).toFixed(2),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }

  for (const c of [1, 16]) {
    // distinct streams: a new aggregate per append, expected version 'no_stream' (no reads)
    await run('distinct streams', c, async (i) => {
      const s = { aggregate_type: 'Instance', aggregate_id: `d${c}-${i}` };
      await store.append(s, 'no_stream', [event(s)]);
      return 0;
    });
    // one hot stream: read the version (in-process hint + one LIST), append at it, retry on conflict
    const hot = { aggregate_type: 'Instance', aggregate_id: `hot-${c}` };
    let known = 0;
    await run('one hot stream', c, async () => {
      const ev = event(hot);
      let conflicts = 0;
      let v = known;
      for (;;) {
        try {
          known = (await store.append(hot, v, [ev])).nextExpectedVersion;
          return conflicts;
        } catch (e) {
          if (!(e instanceof VersionConflictError)) throw e;
          conflicts++;
          v = e.actual;
        }
      }
    });
    // one hot stream without a version check ('any'): appends from this process queue per stream
    const hotAny = { aggregate_type: 'Instance', aggregate_id: `hot-any-${c}` };
    await run("one hot stream 'any'", c, async () => {
      await store.append(hotAny, 'any', [event(hotAny)]);
      return 0;
    });
  }

  console.log('');
  console.log('scenario               conc  appends   p50 ms   p99 ms   appends/s  conflicts  req/append');
  for (const r of rows) {
    console.log(
      `${r.scenario.padEnd(22)} ${String(r.concurrency).padStart(4)} ${String(r.appends).padStart(8)} ${r.p50_ms.toFixed(1).padStart(8)} ${r.p99_ms.toFixed(1).padStart(8)} ${r.appends_per_s.toFixed(0).padStart(11)} ${String(r.conflicts).padStart(10)} ${r.requests_per_append.toFixed(2).padStart(11)}`,
    );
  }
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `adapters-event-store-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), endpoint: config.s3Endpoint, bucket: config.S3_BUCKET, prefix: `bench/${runId}`, node: process.version, rows }, null, 2));
  console.log(`\nwritten ${path.relative(process.cwd(), file)}`);
  client.destroy();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

/**
 * How the cost of one command grows with the length of its stream (issue 18 item 2), not a test:
 *   npx tsx bench/stream-length.ts [--lengths 10,1000,10000,100000] [--samples 20] [--samples-off 3] [--every 100] [--seed-parallel 8]
 *
 * Per length L: one instance is created through the activities (as the direct path runs them),
 * its stream is then filled to L events through the event store adapter (the commit objects
 * written --seed-parallel at a time, each retried on a failed request: the API would take hours), and UPDATE_INSTANCE commands are decided and
 * appended (decideAndAppend: load, decide, conditional append, ledger row) by activities built
 * anew for each sample, so every sample starts with an empty state cache, as after a worker
 * restart. Measured with snapshots (SNAPSHOT_EVERY = --every; the snapshot is made by one
 * untimed cold load first) and without (SNAPSHOT_EVERY=0). Delivery and projection are left out:
 * their cost does not depend on the stream's length.
 * Output: a markdown table on stdout and bench/results/stream-<run>.json. Uses the stack's
 * bucket under the prefix bench-stream-<run>/ and PostgreSQL schemas bench_stream_<run>*, dropped at the end.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createActivities } from '../src/activities';
import { S3EventStore } from '../src/adapters/s3/s3-event-store';
import { connectInfrastructure } from '../src/app/composition';
import { loadConfig } from '../src/app/config';
import type { CommandInput } from '../src/domain';
import type { ProcessCommandInput } from '../src/contracts/workflows';
import { mapLimit } from '../src/lib/map-limit';
import { opt } from './lib/options';
import { pct, type Pct } from './lib/stats';

const LENGTHS = (opt('lengths') ?? '10,1000,10000').split(',').map(Number);
const SAMPLES = Number(opt('samples') ?? 20);
const SAMPLES_OFF = Number(opt('samples-off') ?? 3);
const EVERY = Number(opt('every') ?? 100);
// 64 parallel PUTs ran into MinIO's 10 s request timeout on a loaded machine.
const SEED_PARALLEL = Number(opt('seed-parallel') ?? 8);
const SEED_ATTEMPTS = 6;
const RUN = `s${Date.now().toString(36)}`;
const DB = 'streams';

async function main(): Promise<void> {
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn' });
  const schema = `bench_stream_${RUN}`;
  const prefix = `bench-stream-${RUN}/`;
  const infra = await connectInfrastructure(config, { schema, readModelSchema: `${schema}_rm`, s3Prefix: prefix, topic: `bench-stream-${RUN}` });
  const seeder = new S3EventStore({ client: infra.s3, bucket: config.S3_BUCKET, endpoint: config.s3Endpoint, prefix });
  const deps = infra.activityDeps();
  const mode = infra.config.storageMode;
  const input = (command: Record<string, unknown>): ProcessCommandInput => ({
    command_id: randomUUID(),
    command_type: command.command_type as ProcessCommandInput['command_type'],
    command: command as unknown as CommandInput,
    actor: 'bench',
    submitted_at: new Date().toISOString(),
    storage_mode: mode,
  });
  const update = (id: string, n: number) => input({ command_type: 'UPDATE_INSTANCE', db_name: DB, payload: { id, properties: { n } } });
  const rows: { length: number; snapshots: boolean; latency: Pct | null }[] = [];
  const load = { start: os.loadavg().map((x) => Math.round(x * 100) / 100), end: [] as number[] };
  try {
    const setup = createActivities(deps);
    await setup.runCommand(input({ command_type: 'CREATE_DATABASE', payload: { name: DB } }));
    await setup.runCommand(
      input({ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] } }),
    );
    for (const length of LENGTHS) {
      const id = `s${length}`;
      await setup.runCommand(input({ command_type: 'CREATE_INSTANCE', db_name: DB, payload: { id, class_id: 'Item', properties: { n: 0 } } }));
      const first = await setup.decideAndAppend(update(id, 1));
      const stream = { aggregate_type: first.aggregate_type, aggregate_id: first.aggregate_id };
      const [template] = await seeder.readStream(stream, { fromVersion: 2, toVersion: 2 });
      const t0 = Date.now();
      const versions = Array.from({ length: Math.max(0, length - 2) }, (_, i) => i + 3);
      let retried = 0;
      await mapLimit(versions, SEED_PARALLEL, async (v) => {
        const envelope = { ...template.envelope, event_id: randomUUID(), command_id: randomUUID(), aggregate_version: v };
        // commitEvent is idempotent for one envelope: a retry of a write that landed answers 'stored'.
        for (let attempt = 1; ; attempt++) {
          const committed = await seeder.commitEvent(envelope).catch((err: Error) => {
            if (attempt >= SEED_ATTEMPTS) throw new Error(`seeding ${id} v${v}: ${err.message} (after ${attempt} attempts)`);
            return undefined;
          });
          if (committed?.kind === 'conflict') throw new Error(`seeding ${id} v${v}: another event holds the version`);
          if (committed) break;
          retried++;
          await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
        }
      });
      process.stderr.write(`${id}: ${length} events (seeded in ${Math.round((Date.now() - t0) / 1000)} s, ${retried} request(s) retried)\n`);
      for (const snapshots of [true, false]) {
        const every = snapshots ? EVERY : 0;
        const cold = () => createActivities({ ...deps, snapshotEvery: every });
        if (snapshots && length >= EVERY) {
          // The stream's first cold load writes its snapshot; wait for it, as a stream that has been in use would have one.
          await cold().decideAndAppend(update(id, 2));
          for (let i = 0; !(await deps.snapshots!.latest(stream)); i++) {
            if (i > 600) throw new Error(`no snapshot of ${id}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        const times: number[] = [];
        const n = snapshots || length <= 1000 ? SAMPLES : SAMPLES_OFF;
        for (let i = 0; i < n; i++) {
          const acts = cold();
          const cmd = update(id, i + 3);
          const start = performance.now();
          await acts.decideAndAppend(cmd);
          times.push(performance.now() - start);
        }
        rows.push({ length, snapshots, latency: pct(times) });
        process.stderr.write(`${id} snapshots ${snapshots ? 'on' : 'off'}: ${JSON.stringify(pct(times))}\n`);
      }
    }
  } finally {
    load.end = os.loadavg().map((x) => Math.round(x * 100) / 100);
    await infra.ownerPool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_rm CASCADE`).catch(() => undefined);
    await infra.close();
  }
  const p50At = (len: number) => rows.find((r) => r.length === len && r.snapshots)?.latency?.p50;
  const shortest = p50At(Math.min(...LENGTHS));
  const longest = p50At(Math.max(...LENGTHS));
  const lines = [
    `Run \`${RUN}\` ${new Date().toISOString()}, ${os.cpus().length} cores, load average ${load.start.join(' ')} at start, ${load.end.join(' ')} at end; decideAndAppend on a cold state cache, ms.`,
    '',
    '| stream length (events) | snapshots | samples | p50 | p90 | p99 | max |',
    '|---:|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) => `| ${r.length.toLocaleString('en')} | ${r.snapshots ? `every ${EVERY}` : 'off'} | ${r.latency?.n} | ${r.latency?.p50} | ${r.latency?.p90} | ${r.latency?.p99} | ${r.latency?.max} |`,
    ),
    '',
    `Target p50 at ${Math.max(...LENGTHS).toLocaleString('en')} events within 2x of p50 at ${Math.min(...LENGTHS)}: ${longest} vs ${shortest} ms = ${
      shortest && longest ? (longest / shortest).toFixed(2) : '?'
    }x — ${shortest && longest && longest <= 2 * shortest ? 'MET' : 'MISSED'}`,
  ];
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `stream-${RUN}.json`), JSON.stringify({ run: RUN, every: EVERY, load, rows }, null, 2));
  process.stdout.write(`${lines.join('\n')}\n`);
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`stream-length bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(2);
});

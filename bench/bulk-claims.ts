/**
 * Where a bulk command's time goes (not part of the service): creates a database and a class, then
 * runs prepareBulk and every appendBulkBatch + project of one BULK_CREATE_INSTANCES command against
 * the real stack, timing each dependency call. `npx tsx bench/bulk-claims.ts [instances]`.
 */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../src/app/config';
import { connectInfrastructure } from '../src/app/composition';
import { createActivities, type ActivityDeps } from '../src/activities';
import type { ProcessCommandInput } from '../src/contracts/workflows';
import type { EventStore } from '../src/ports/event-store';

const n = Number(process.argv[2] ?? 10_000);
const spent = new Map<string, { ms: number; calls: number }>();
function timed<T extends object>(name: string, target: T): T {
  return new Proxy(target, {
    get(t, key, receiver) {
      const v = Reflect.get(t, key, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const start = performance.now();
        const out = v.apply(t, args);
        if (!(out instanceof Promise)) return out;
        const k = `${name}.${String(key)}`;
        return out.finally(() => {
          const s = spent.get(k) ?? { ms: 0, calls: 0 };
          s.ms += performance.now() - start;
          s.calls++;
          spent.set(k, s);
        });
      };
    },
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const schema = `bench_claims_${Date.now()}`;
  const infra = await connectInfrastructure(config, { schema, readModelSchema: `${schema}_rm`, s3Prefix: `${schema}/`, topic: config.KAFKA_TOPIC });
  const base = infra.activityDeps();
  const deps: ActivityDeps = {
    ...base,
    eventStores: { ...base.eventStores, s3_only: timed('store', base.eventStores.s3_only as EventStore & object) },
    ledger: timed('ledger', base.ledger),
    blobs: timed('blobs', base.blobs),
    context: timed('context', base.context),
    projector: timed('projector', base.projector),
  };
  const acts = createActivities(deps);
  const input = (command: Record<string, unknown>): ProcessCommandInput =>
    ({ command_id: randomUUID(), command_type: command.command_type, actor: 'bench', submitted_at: new Date().toISOString(), storage_mode: 's3_only', command }) as never;
  const db = 'bench';
  for (const c of [
    { command_type: 'CREATE_DATABASE', payload: { name: db } },
    { command_type: 'CREATE_ONTOLOGY_CLASS', db_name: db, payload: { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] } },
  ]) {
    const out = await acts.decideAndAppend(input(c));
    await acts.project(out.events);
  }
  spent.clear();
  const id = randomUUID();
  const bulk = {
    ...input({
      command_type: 'BULK_CREATE_INSTANCES',
      db_name: db,
      batch_id: id,
      payload: { class_id: 'Item', instances: Array.from({ length: n }, (_, i) => ({ id: `item-${i}`, properties: { n: i } })) },
    }),
    command_id: id,
  };
  const t0 = performance.now();
  const plan = await acts.prepareBulk(bulk);
  const t1 = performance.now();
  for (let b = 0; b < plan.batches_total; b++) {
    const out = await acts.appendBulkBatch({ input: bulk, batch: b, plan_ref: plan.plan_ref });
    await acts.project(out.events);
  }
  const t2 = performance.now();
  console.log(`instances=${n} prepareBulk=${(t1 - t0).toFixed(0)} ms  batches+project=${(t2 - t1).toFixed(0)} ms`);
  for (const [k, s] of [...spent].sort((a, b) => b[1].ms - a[1].ms)) console.log(`  ${k.padEnd(28)} calls=${String(s.calls).padStart(6)}  sum=${s.ms.toFixed(0).padStart(8)} ms`);
  await infra.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

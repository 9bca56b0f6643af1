/**
 * Search benchmark on the stack's OpenSearch node: the indexing rate of a bulk projection
 * (INSTANCES_BULK_CREATED events of 1,000 instances each, as a bulk command produces them) and the
 * search latency p50/p99 at 1 and 16 concurrent clients.
 *
 *   npx tsx bench/search.ts [instances=100000] [queries=400]
 */
import { loadConfig } from '../src/app/config';
import { SearchEngine, createSearchClient } from '../src/adapters/opensearch/engine';
import type { EventEnvelope } from '../src/contracts/event-envelope';
import { batchAggregateId, instanceAggregateId } from '../src/domain/identifiers';

const WORDS = ['ada', 'lovelace', 'grace', 'hopper', 'alan', 'turing', 'edsger', 'dijkstra', 'barbara', 'liskov', 'donald', 'knuth', 'john', 'backus', 'frances', 'allen'];
const COUNTRIES = ['UK', 'US', 'FR', 'DE', 'NL', 'IT'];

function envelope(event_type: string, aggregate_type: string, aggregate_id: string, version: number, payload: unknown, n: number): EventEnvelope {
  return {
    event_id: `bench-${n}`,
    event_type,
    aggregate_type,
    aggregate_id,
    aggregate_version: version,
    occurred_at: new Date().toISOString(),
    actor: 'bench',
    command_id: `bench-${n}`,
    schema_version: 1,
    payload,
    metadata: { storage_mode: 's3_only' },
  };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 100_000);
  const queries = Number(process.argv[3] ?? 400);
  const config = loadConfig();
  const prefix = `bench-search-${Date.now().toString(36)}`;
  const engine = new SearchEngine(createSearchClient(config.opensearchUrl), prefix);
  const db = 'bench';
  const scope = { db_name: db, db_incarnation: 1 };
  try {
    await engine.projector.apply([
      envelope('DATABASE_CREATED', 'database', db, 1, { name: db }, 0),
      envelope(
        'ONTOLOGY_CLASS_CREATED',
        'ontology_class',
        `${db}:Person`,
        1,
        {
          ...scope,
          definition: {
            id: 'Person',
            label: 'Person',
            abstract: false,
            relationships: [],
            properties: [
              { name: 'name', type: 'string', required: true },
              { name: 'country', type: 'string', required: false },
              { name: 'age', type: 'integer', required: false },
              { name: 'bio', type: 'string', required: false },
            ],
          },
        },
        1,
      ),
    ]);
    const batch = 1000;
    const t0 = Date.now();
    for (let b = 0; b * batch < total; b++) {
      const instances = Array.from({ length: Math.min(batch, total - b * batch) }, (_, i) => {
        const n = b * batch + i;
        return {
          id: `p${n}`,
          class_id: 'Person',
          properties: { name: `${WORDS[n % 16]} ${WORDS[(n * 7 + 3) % 16]} ${n}`, country: COUNTRIES[n % 6], age: n % 90, bio: `${WORDS[(n * 3) % 16]} wrote about ${WORDS[(n * 5) % 16]}` },
          relationships: {},
        };
      });
      await engine.projector.apply([
        envelope(
          'INSTANCES_BULK_CREATED',
          'instance_batch',
          batchAggregateId(db, `b${b}`, 1),
          1,
          {
            ...scope,
            batch_id: `b${b}`,
            class_id: 'Person',
            batch_index: b,
            batch_count: Math.ceil(total / batch),
            instances,
            claims: instances.map((i) => ({ aggregate_id: instanceAggregateId(db, i.id, 1), version: 1 })),
          },
          b + 2,
        ),
      ]);
    }
    await engine.client.indices.refresh({ index: `${prefix}.*` });
    const secs = (Date.now() - t0) / 1000;
    const count = (await engine.client.count({ index: `${prefix}.${db}` })).body.count;
    process.stdout.write(`indexed ${count} instances in ${secs.toFixed(1)} s: ${Math.round(count / secs)} instances/s (bulk events of ${batch})\n`);

    const texts = Array.from({ length: queries }, (_, i) => {
      const w = WORDS[i % 16];
      // Every other query has a typo (one letter dropped) and asks for facets.
      return i % 2 === 0 ? { q: `${w} ${WORDS[(i * 7 + 3) % 16]}`, facets: undefined } : { q: w.slice(0, 1) + w.slice(2), facets: ['country'] };
    });
    for (const clients of [1, 16]) {
      const lat: number[] = [];
      let next = 0;
      const started = Date.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (next < texts.length) {
            const t = texts[next++];
            const s = performance.now();
            await engine.queries.search(db, { q: t.q, limit: 20, ...(t.facets ? { facets: t.facets } : {}) });
            lat.push(performance.now() - s);
          }
        }),
      );
      lat.sort((a, b) => a - b);
      const qps = (lat.length / ((Date.now() - started) / 1000)).toFixed(0);
      process.stdout.write(`search, ${clients} client(s): ${lat.length} queries, p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, ${qps} queries/s\n`);
    }
  } finally {
    await engine.dropAll().catch(() => undefined);
    await engine.close();
  }
}

main().catch((err) => {
  process.stderr.write(`bench/search: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});

/**
 * Per-event cost of reading events at the current schema version (upcasting) and of sealing and
 * opening personal values (AES-256-GCM), in process, no I/O: the key store is in memory, so the
 * figures leave out the one key-store query per batch (PostgreSQL) that a real seal or open adds.
 *   npx tsx bench/evolution-and-crypto.ts [events]
 */
import { randomBytes } from 'node:crypto';
import { AesPersonalDataCipher } from '../src/adapters/personal-data-cipher';
import { currentEnvelope, envelopeOf, type EventEnvelope } from '../src/contracts/event-envelope';
import type { ClassCatalog } from '../src/domain';
import type { SubjectKeyStore } from '../src/ports/personal-data';

const N = Number(process.argv[2] ?? 100_000);

const keys = new Map<string, Buffer>();
const store: SubjectKeyStore = {
  async dataKeys(subjects, o) {
    const out = new Map<string, Buffer>();
    for (const s of subjects) {
      if (o.create && !keys.has(s)) keys.set(s, randomBytes(32));
      const k = keys.get(s);
      if (k) out.set(s, k);
    }
    return out;
  },
  async forget(s) {
    return keys.delete(s);
  },
};
const classes: ClassCatalog = {
  Person: {
    id: 'Person',
    label: 'Person',
    abstract: false,
    relationships: [],
    properties: [
      { name: 'name', type: 'string', required: true, personal: true },
      { name: 'email', type: 'string', required: false, personal: true },
      { name: 'age', type: 'integer', required: false },
    ],
  },
};
const o = (i: number) => ({ commandId: `c${i}`, position: 0, version: 1, occurredAt: '2026-01-01T00:00:00.000Z', actor: 'bench', storageMode: 's3_only' as const });
const instanceEvent = (i: number) =>
  envelopeOf<unknown>(
    {
      event_type: 'INSTANCE_CREATED',
      aggregate_type: 'instance',
      aggregate_id: `shop:p${i}`,
      payload: { db_name: 'shop', db_incarnation: 1, instance: { id: `p${i}`, class_id: 'Person', properties: { name: `Person ${i}`, email: `p${i}@example.com`, age: i % 90 }, relationships: {} } },
    },
    o(i),
  );
const oldDeletion = (i: number): EventEnvelope => ({
  ...envelopeOf<unknown>(
    {
      event_type: 'ONTOLOGY_CLASS_DELETED',
      aggregate_type: 'ontology_class',
      aggregate_id: `shop:C${i}`,
      payload: { db_name: 'shop', db_incarnation: 1, class_id: `C${i}`, forced: false, instance_count: 0 },
    },
    o(i),
  ),
  schema_version: 1,
});

function time(label: string, fn: () => void): void {
  const t0 = process.hrtime.bigint();
  fn();
  const ns = Number(process.hrtime.bigint() - t0);
  console.log(
    `${label.padEnd(44)} ${(ns / N / 1000).toFixed(2).padStart(8)} µs/event  ${Math.round(N / (ns / 1e9))
      .toLocaleString('en-US')
      .padStart(12)} events/s`,
  );
}
async function timeAsync(label: string, fn: () => Promise<void>): Promise<void> {
  const t0 = process.hrtime.bigint();
  await fn();
  const ns = Number(process.hrtime.bigint() - t0);
  console.log(
    `${label.padEnd(44)} ${(ns / N / 1000).toFixed(2).padStart(8)} µs/event  ${Math.round(N / (ns / 1e9))
      .toLocaleString('en-US')
      .padStart(12)} events/s`,
  );
}

async function main(): Promise<void> {
  const current = Array.from({ length: N }, (_, i) => instanceEvent(i));
  const old = Array.from({ length: N }, (_, i) => oldDeletion(i));
  const cipher = new AesPersonalDataCipher(store);
  console.log(`${N} events, node ${process.version}`);
  time('upcast: event already current (no upcaster)', () => current.forEach((e) => currentEnvelope(e)));
  time('upcast: v1 ONTOLOGY_CLASS_DELETED -> v2', () => old.forEach((e) => currentEnvelope(e)));
  let sealed: EventEnvelope[] = [];
  // batches of 500, as a bulk command seals them; the key store is asked once per batch
  await timeAsync('seal: 2 personal values per event', async () => {
    for (let i = 0; i < N; i += 500) sealed = sealed.concat(await cipher.seal(current.slice(i, i + 500), classes));
  });
  await timeAsync('open: 2 personal values per event', async () => {
    for (let i = 0; i < N; i += 500) await cipher.open(sealed.slice(i, i + 500));
  });
  await timeAsync('open: no personal values (pass-through)', async () => {
    for (let i = 0; i < N; i += 500) await cipher.open(old.slice(i, i + 500));
  });
  const bytes = (xs: unknown[]) => xs.reduce<number>((n, x) => n + JSON.stringify(x).length, 0) / xs.length;
  console.log(`stored size per event: ${Math.round(bytes(current.slice(0, 1000)))} B plain, ${Math.round(bytes(sealed.slice(0, 1000)))} B sealed`);
}

void main();

/**
 * The invariants every run checks on what a path wrote: S3 index versions 1..n per stream, ledger rows
 * matching and delivered, Kafka order per key, no lost or duplicated commands, read models at the last version.
 * A bulk's claim on an instance stream (its ledger row INSTANCE_CLAIM) holds a version but is never sent to Kafka,
 * nor is it a command of its own: Kafka carries the stream's other versions, and the commands count those.
 */
import type { Pool } from 'pg';
import { createS3Client, listKeys } from '../../src/adapters/s3/s3-client';
import { S3KeyLayout, encodeSegment } from '../../src/adapters/s3/s3-keys';
import type { PathEnv } from './clients';
import type { KafkaTracker } from './observers';
import type { Rec } from './records';
import { ONTO_DB } from './options';
import { CLAIM_ROW_TYPE } from '../../src/ports/ledger';

export async function checkInvariants(violations: string[], env: PathEnv, recs: Rec[], kafka: KafkaTracker, pool: Pool, s3: ReturnType<typeof createS3Client>): Promise<Record<string, number>> {
  const layout = new S3KeyLayout(env.prefix);
  const v: string[] = [];
  // S3: versions per stream from the index keys
  const s3Versions = new Map<string, number[]>();
  for (const type of ['instance', 'instance_batch']) {
    const root = `${layout.prefix}indexes/by-aggregate/${encodeSegment(type)}/`;
    const { objects } = await listKeys(s3, env.bucket, root);
    for (const o of objects) {
      const rel = o.Key!.slice(root.length);
      const seg = rel.slice(0, rel.indexOf('/'));
      const ver = layout.versionOfIndexKey(o.Key!);
      if (ver === undefined) continue;
      const k = `${type}/${seg}`;
      s3Versions.set(k, [...(s3Versions.get(k) ?? []), ver]);
    }
  }
  const { rows: ledger } = await pool.query(
    `SELECT aggregate_type, aggregate_id, count(*)::int AS n, count(DISTINCT aggregate_version)::int AS nv, min(aggregate_version) AS mn,
            max(aggregate_version) AS mx, count(*) FILTER (WHERE status = 'delivered')::int AS delivered,
            coalesce(array_agg(aggregate_version) FILTER (WHERE event_type = $1), '{}') AS claims
     FROM ${env.schema}.delivery_ledger WHERE aggregate_type IN ('instance', 'instance_batch') GROUP BY 1, 2`,
    [CLAIM_ROW_TYPE],
  );
  const { rows: rmRows } = await pool.query(`SELECT instance_id, version FROM ${env.rmSchema}.instances WHERE db_name = $1`, [ONTO_DB]);
  const rmVersion = new Map(rmRows.map((r) => [`${ONTO_DB}:${r.instance_id}`, r.version as number]));
  const okPerStream = new Map<string, number>();
  const errPerStream = new Set<string>();
  for (const r of recs) {
    const k = `${ONTO_DB}:${r.instance}`;
    if (r.error) errPerStream.add(k);
    else okPerStream.set(k, (okPerStream.get(k) ?? 0) + 1);
  }
  let streams = 0;
  let events = 0;
  for (const l of ledger) {
    streams++;
    const seg = `${l.aggregate_type}/${encodeSegment(l.aggregate_id)}`;
    const sv = (s3Versions.get(seg) ?? []).sort((a, b) => a - b);
    s3Versions.delete(seg);
    const n = sv.length;
    events += n;
    const id = `${l.aggregate_type} ${l.aggregate_id}`;
    if (!sv.every((x, i) => x === i + 1)) v.push(`S3 versions of ${id} are not 1..${n}: ${sv.slice(0, 10).join(',')}`);
    if (l.n !== n || l.nv !== n || l.mn !== 1 || l.mx !== n) v.push(`ledger of ${id}: ${l.n} rows, ${l.nv} versions ${l.mn}..${l.mx}; S3 has ${n}`);
    if (l.delivered !== l.n) v.push(`ledger of ${id}: ${l.n - l.delivered} row(s) not delivered`);
    const claims = new Set<number>(l.claims);
    const sent = sv.filter((x) => !claims.has(x));
    const kv = kafka.order.get(l.aggregate_id) ?? [];
    if (kv.length !== sent.length || !kv.every((x, i) => x === sent[i]))
      v.push(`Kafka order of ${id}: [${kv.slice(0, 12).join(',')}${kv.length > 12 ? ',...' : ''}] (${kv.length}), expected ${sent.length} version(s) ${sent.slice(0, 12).join(',')}`);
    if (l.aggregate_type === 'instance') {
      const ok = okPerStream.get(l.aggregate_id) ?? 0;
      const commanded = sent.length;
      if (commanded < ok) v.push(`lost: ${id} has ${commanded} event(s) but ${ok} command(s) were acknowledged`);
      if (commanded > ok && !errPerStream.has(l.aggregate_id)) v.push(`duplicated: ${id} has ${commanded} event(s) for ${ok} acknowledged command(s)`);
      const rv = rmVersion.get(l.aggregate_id);
      if (rv !== n) v.push(`read model of ${id} at version ${rv}, S3 at ${n}`);
    }
  }
  for (const [seg, vs] of s3Versions) v.push(`S3 stream ${seg} (${vs.length} versions) has no ledger rows`);
  for (const [k, ok] of okPerStream) if (ok > 0 && !ledger.some((l) => l.aggregate_id === k)) v.push(`lost: ${k}: ${ok} acknowledged command(s), nothing stored`);
  for (const x of v.slice(0, 50)) violations.push(`${env.name}: ${x}`);
  if (v.length > 50) violations.push(`${env.name}: ... ${v.length - 50} more`);
  return { streams, events, kafkaDuplicates: kafka.dups, violations: v.length };
}

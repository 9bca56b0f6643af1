/**
 * The invariants every fault test ends on (issue 17, item 3), checked on what the stores hold, not
 * on what the API answered: S3 stream versions contiguous; one ledger row per stored version, all
 * delivered; every delivered event in Kafka, per stream in version order of first occurrence
 * (duplicates counted, not failed: consumers dedupe on event-id); read models equal to a rebuild
 * from S3; no workflow left running on the task queue.
 */
import type { Client } from '@temporalio/client';
import type { Infrastructure } from '../../src/app/composition';
import { listKeys } from '../../src/adapters/s3/s3-client';
import { encodeSegment } from '../../src/adapters/s3/s3-keys';
import { scanTopic, TopicEntry } from '../../src/adapters/kafka/topic-scan';
import { CLAIM_ROW_TYPE } from '../../src/ports/ledger';
import type { RebuildOutcome } from '../../src/workflows/rebuild-read-models';

export interface InvariantReport {
  streams: number;
  /** Stream versions in S3 (index entries, claims included). */
  events: number;
  /** Streams whose S3 versions do not run 1..N. */
  gaps: string[];
  /** Stream versions in S3 without a ledger row, and ledger rows without an S3 version. */
  unrecorded: string[];
  unknownRows: string[];
  /** Ledger rows not delivered. */
  undelivered: string[];
  kafkaMessages: number;
  /** Messages beyond the first of their event id. */
  duplicates: number;
  /** Delivered events (claims aside: they are never sent) with no message in Kafka. */
  lost: string[];
  /** Streams whose first occurrences in Kafka are not in version order. */
  orderViolations: string[];
  /** Undefined when the rebuild was not asked for. */
  readModelsEqual?: boolean;
  readModelDifferences?: RebuildOutcome['differences'];
  running: number;
}

export interface InvariantScope {
  infra: Infrastructure;
  prefix: string;
  client: Client;
  taskQueue: string;
  /** Rebuild the read models from S3 into `<schema>_check` and compare (needs a worker on the task queue). */
  rebuild?: boolean;
}

const streamKey = (type: string, encodedId: string) => `${type}/${encodedId}`;

export async function checkInvariants(s: InvariantScope): Promise<InvariantReport> {
  const { infra } = s;
  // S3: every stream's versions, from the index (the commit point).
  const base = `${s.prefix}indexes/by-aggregate/`;
  const { objects } = await listKeys(infra.s3, infra.config.S3_BUCKET, base);
  const s3Streams = new Map<string, number[]>();
  for (const o of objects) {
    const [type, id, file] = o.Key!.slice(base.length).split('/');
    const k = streamKey(type, id);
    s3Streams.set(k, [...(s3Streams.get(k) ?? []), Number(file.replace('.json', ''))]);
  }
  const gaps: string[] = [];
  for (const [k, versions] of s3Streams) {
    versions.sort((a, b) => a - b);
    if (versions.some((v, i) => v !== i + 1)) gaps.push(`${k}: ${versions.join(',')}`);
  }

  // Ledger: one row per stream version (the table's unique keys guarantee no second one).
  const { rows } = await infra.pool.query<{ event_id: string; aggregate_type: string; aggregate_id: string; aggregate_version: number; event_type: string; status: string }>(
    `SELECT event_id, aggregate_type, aggregate_id, aggregate_version, event_type, status FROM ${infra.schema}.delivery_ledger`,
  );
  const ledgerVersions = new Set(rows.map((r) => `${streamKey(encodeSegment(r.aggregate_type), encodeSegment(r.aggregate_id))}@${r.aggregate_version}`));
  const s3Versions = new Set([...s3Streams].flatMap(([k, vs]) => vs.map((v) => `${k}@${v}`)));
  const unrecorded = [...s3Versions].filter((v) => !ledgerVersions.has(v));
  const unknownRows = [...ledgerVersions].filter((v) => !s3Versions.has(v));
  const undelivered = rows.filter((r) => r.status !== 'delivered').map((r) => `${r.aggregate_id}@${r.aggregate_version} ${r.status}`);

  // Kafka: the whole topic, read once.
  const entries = await scanTopic(infra.kafka, infra.topic);
  const { duplicates, orderViolations, seen } = kafkaOrder(entries);
  const lost = rows.filter((r) => r.status === 'delivered' && r.event_type !== CLAIM_ROW_TYPE && !seen.has(r.event_id)).map((r) => `${r.aggregate_id}@${r.aggregate_version}`);

  const running = (await s.client.workflow.count(`TaskQueue = '${s.taskQueue}' AND ExecutionStatus = 'Running'`)).count;

  const report: InvariantReport = {
    streams: s3Streams.size,
    events: s3Versions.size,
    gaps,
    unrecorded,
    unknownRows,
    undelivered,
    kafkaMessages: entries.length,
    duplicates,
    lost,
    orderViolations,
    running,
  };
  if (s.rebuild) {
    const target = `${infra.readModelSchema}_check`;
    await infra.ownerPool.query(`DROP SCHEMA IF EXISTS ${target} CASCADE`);
    const outcome = (await s.client.workflow.execute('rebuildReadModels', {
      taskQueue: s.taskQueue,
      workflowId: `rebuild-${target}-${Date.now()}`,
      args: [{ target_schema: target }],
    })) as RebuildOutcome;
    await infra.ownerPool.query(`DROP SCHEMA IF EXISTS ${target} CASCADE`);
    report.readModelsEqual = outcome.equal;
    report.readModelDifferences = outcome.differences;
  }
  return report;
}

/** Per stream (message key), the first occurrence of each event id must come in version order. */
export function kafkaOrder(entries: TopicEntry[]): { duplicates: number; orderViolations: string[]; seen: Set<string> } {
  const seen = new Set<string>();
  const lastVersion = new Map<string, number>();
  const violations = new Set<string>();
  let duplicates = 0;
  const ordered = [...entries].sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  for (const e of ordered) {
    if (e.eventId === undefined) continue;
    if (seen.has(e.eventId)) {
      duplicates++;
      continue;
    }
    seen.add(e.eventId);
    const key = e.key ?? '';
    const version = e.aggregateVersion ?? 0;
    if (version <= (lastVersion.get(key) ?? 0)) violations.add(key);
    lastVersion.set(key, version);
  }
  return { duplicates, orderViolations: [...violations], seen };
}

/** The report's failures only, so a test can `expect(problems(report)).toEqual({})`. */
export function problems(r: InvariantReport): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ['gaps', 'unrecorded', 'unknownRows', 'undelivered', 'lost', 'orderViolations'] as const) if (r[k].length) out[k] = r[k].slice(0, 20);
  if (r.readModelsEqual === false) out.readModelDifferences = r.readModelDifferences;
  if (r.running > 0) out.running = r.running;
  return out;
}

/** The bulk scenario (workflow path only): one BULK_CREATE_INSTANCES until stored, consumed from Kafka and projected. */
import type cliProgress from 'cli-progress';
import type { Pool } from 'pg';
import { benchAuth, json, type PathEnv } from './clients';
import type { KafkaTracker } from './observers';
import type { ProcMonitor } from './procstats';
import { BULK, CLASS, ONTO_DB, now, sleep } from './options';

export async function runBulk(
  violations: string[],
  env: PathEnv,
  kafka: KafkaTracker,
  pool: Pool,
  mon: ProcMonitor,
  bar: cliProgress.SingleBar,
  barBase: number,
  span: number,
): Promise<Record<string, unknown>> {
  const instances = Array.from({ length: BULK }, (_, i) => ({ id: `bulk-${i}`, properties: { n: i } }));
  const body = JSON.stringify({ instances });
  const v1 = `${env.apiUrl}/api/v1`;
  const cpu0 = mon.cpu();
  mon.resetPeaks();
  const t0 = now();
  bar.update(barBase, { phase: `workflow bulk ${BULK}` });
  const res = await fetch(`${v1}/databases/${ONTO_DB}/classes/${CLASS}/instances:bulk`, { method: 'POST', headers: { 'content-type': 'application/json', ...benchAuth }, body });
  const accepted = await json(res);
  const tAccepted = now();
  if (res.status !== 202) throw new Error(`bulk: ${res.status} ${JSON.stringify(accepted).slice(0, 300)}`);
  let status: any;
  let batchesTotal = 0;
  for (;;) {
    status = await json(await fetch(`${v1}/commands/${accepted.command_id}`, { headers: benchAuth }));
    batchesTotal = status?.progress?.batches_total ?? batchesTotal;
    bar.update(barBase + span * Math.min(0.95, (status?.progress?.batches_done ?? 0) / Math.max(1, batchesTotal)), {
      phase: `workflow bulk ${BULK}: ${status?.status} ${status?.progress?.batches_done ?? 0}/${batchesTotal}`,
    });
    if (status?.status === 'COMPLETED' || status?.status === 'FAILED') break;
    if (now() - t0 > 600_000) break;
    await sleep(250);
  }
  const tCompleted = now();
  const eventCount = status?.result?.event_count ?? 0;
  // Kafka: every batch event consumed (ledger gives all event ids of the batch stream)
  const aggregateId = status?.result?.aggregate_id;
  const { rows } = await pool.query(`SELECT event_id FROM ${env.schema}.delivery_ledger WHERE aggregate_type = 'instance_batch' AND aggregate_id = $1`, [aggregateId]);
  let tKafka: number | undefined;
  let projected = 0;
  let tRm: number | undefined;
  const deadline = now() + 120_000;
  while (now() < deadline && (tKafka === undefined || tRm === undefined)) {
    if (tKafka === undefined && rows.length && rows.every((r) => kafka.first.has(r.event_id))) tKafka = Math.max(...rows.map((r) => kafka.first.get(r.event_id)!));
    if (tRm === undefined) {
      projected = (await pool.query(`SELECT count(*)::int AS n FROM ${env.rmSchema}.instances WHERE db_name = $1 AND instance_id LIKE 'bulk-%'`, [ONTO_DB])).rows[0].n;
      if (projected >= BULK) tRm = now();
    }
    if (tKafka === undefined || tRm === undefined) await sleep(100);
  }
  const cpu1 = mon.cpu();
  const cpu: Record<string, number> = {};
  for (const k of Object.keys(cpu1)) cpu[k] = Math.round(((cpu1[k] ?? 0) - (cpu0[k] ?? 0)) * 100) / 100;
  const ok = status?.status === 'COMPLETED' && projected === BULK && tKafka !== undefined;
  if (!ok) violations.push(`bulk: status ${status?.status}, ${projected}/${BULK} projected, kafka ${tKafka ? 'complete' : 'incomplete'} (${rows.length} ledger rows)`);
  return {
    instances: BULK,
    status: status?.status,
    batches: eventCount,
    accepted_ms: Math.round(tAccepted - t0),
    completed_s: Math.round((tCompleted - t0) / 100) / 10,
    kafka_s: tKafka ? Math.round((tKafka - t0) / 100) / 10 : null,
    read_model_s: tRm ? Math.round((tRm - t0) / 100) / 10 : null,
    instances_per_s: tRm ? Math.round(BULK / ((Math.max(tRm, tCompleted, tKafka ?? 0) - t0) / 1000)) : null,
    cpuSeconds: cpu,
    peakRssMb: mon.peaksMb(),
  };
}

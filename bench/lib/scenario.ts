/** Load generation: one scenario (a concurrency level, or the hot-stream case) against one path, then its drain and figures. */
import os from 'node:os';
import type cliProgress from 'cli-progress';
import type { PathEnv } from './clients';
import type { KafkaTracker, ReadModelWatcher } from './observers';
import type { ProcMonitor } from './procstats';
import type { Rec, Report, ScenarioResult } from './records';
import { pct } from './stats';
import { MEASURE_S, PROFILE_SAMPLES, WARMUP_S, now, sleep } from './options';

export async function runScenario(
  report: Report,
  env: PathEnv,
  name: string,
  clients: number,
  hot: boolean,
  kafka: KafkaTracker,
  rm: ReadModelWatcher,
  mon: ProcMonitor,
  bar: cliProgress.SingleBar,
  barBase: number,
  barSpan: number,
): Promise<{ res: ScenarioResult; recs: Rec[] }> {
  const recs: Rec[] = [];
  const hotId = `${name}-hot`;
  if (hot) {
    const r: Rec = { scenario: name, kind: 'create', instance: hotId, tSubmit: now(), version: 1 };
    rm.watch(r, 1);
    await env.exec('create', hotId, 0, r);
    recs.push(r);
    if (r.error) throw new Error(`hot instance: ${r.error}`);
  }
  const t0 = now();
  const warmEnd = t0 + WARMUP_S * 1000;
  const end = warmEnd + MEASURE_S * 1000;
  let cpuStart: Record<string, number> = {};
  const marker = setTimeout(() => {
    cpuStart = mon.cpu();
    mon.resetPeaks();
  }, WARMUP_S * 1000);
  const progress = setInterval(() => bar.update(Math.min(barBase + barSpan, barBase + (barSpan * (now() - t0)) / (end - t0)), { phase: `${env.name} ${name}` }), 250);
  let n = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let i = 0;
      let last = '';
      while (now() < end) {
        const kind: 'create' | 'update' = hot || i % 2 === 1 ? 'update' : 'create';
        const instance = hot ? hotId : kind === 'create' ? `${name}-c${c}-${i}` : last;
        if (kind === 'create') last = instance;
        const rec: Rec = { scenario: name, kind, instance, tSubmit: now() };
        recs.push(rec);
        // The expected version is known up front for a client's own instances: watch the read model from submit on.
        if (!hot) {
          rec.version = kind === 'create' ? 1 : 2;
          rm.watch(rec, rec.version);
        }
        try {
          await env.exec(kind, instance, ++n, rec);
        } catch (err) {
          rec.tDone = now();
          rec.error = (err as Error).message.slice(0, 200);
        }
        if (hot && !rec.error && rec.version) rm.watch(rec, rec.version);
        if (rec.error) {
          rec.version = undefined;
          if (kind === 'create') last = '';
          await sleep(50);
        }
        i++;
        if (!hot && kind === 'create' && rec.error) i++; // no update of an instance that does not exist
      }
    }),
  );
  clearTimeout(marker);
  const cpuEnd = mon.cpu();
  const peaks = mon.peaksMb();
  const load1 = Math.round(os.loadavg()[0] * 10) / 10;
  clearInterval(progress);

  // Drain: every stored event must reach Kafka and the read model.
  const ok = recs.filter((r) => !r.error && r.eventId);
  const drainEnd = now() + (env.name.startsWith('poll-') ? Number(env.name.slice(5)) * 3 : 0) + 30_000;
  for (;;) {
    const missingKafka = ok.filter((r) => !kafka.first.has(r.eventId!)).length;
    const missingRm = ok.filter((r) => r.tRm === undefined).length;
    if ((missingKafka === 0 && missingRm === 0) || now() > drainEnd) break;
    bar.update(barBase + barSpan, { phase: `${env.name} ${name} drain (${missingKafka} kafka, ${missingRm} read model)` });
    await sleep(100);
  }
  for (const r of ok) r.tKafka = kafka.first.get(r.eventId!);
  const undelivered = ok.filter((r) => r.tKafka === undefined).length;
  const unprojected = ok.filter((r) => r.tRm === undefined).length;
  if (undelivered) report.violations.push(`${env.name}/${name}: ${undelivered} stored event(s) never consumed from Kafka`);
  if (unprojected) report.violations.push(`${env.name}/${name}: ${unprojected} command(s) never visible in the read model`);

  // Throughput: completions inside the window; latency: commands submitted inside it (completed at any time).
  const completedInWindow = recs.filter((r) => !r.error && r.tDone !== undefined && r.tDone >= warmEnd && r.tDone <= end).length;
  const good = recs.filter((r) => r.tSubmit >= warmEnd && r.tDone !== undefined && !r.error);
  const errs = recs.filter((r) => r.error);
  const cpu: Record<string, number> = {};
  for (const k of Object.keys(cpuEnd)) cpu[k] = Math.round(((cpuEnd[k] ?? 0) - (cpuStart[k] ?? cpuEnd[k] ?? 0)) * 100) / 100;
  const res: ScenarioResult = {
    path: env.name,
    scenario: name,
    concurrency: clients,
    hot,
    commands: completedInWindow,
    throughput: Math.round((completedInWindow / MEASURE_S) * 10) / 10,
    errors: errs.length,
    errorSamples: [...new Set(errs.map((e) => e.error!))].slice(0, 5),
    submitToCompleted: pct(good.map((r) => r.tDone! - r.tSubmit)),
    submitToKafka: pct(good.filter((r) => r.tKafka).map((r) => r.tKafka! - r.tSubmit)),
    submitToReadModel: pct(good.filter((r) => r.tRm).map((r) => r.tRm! - r.tSubmit)),
    cpuSeconds: cpu,
    peakRssMb: peaks,
    load1,
  };
  if (env.commandIdsForProfile) {
    const ids = good.map((r) => r.commandId!).filter(Boolean);
    const step = Math.max(1, Math.floor(ids.length / PROFILE_SAMPLES));
    for (let i = 0; i < ids.length && env.commandIdsForProfile.length < 100000; i += step) env.commandIdsForProfile.push(`${name}\u0000${ids[i]}`);
  }
  return { res, recs };
}

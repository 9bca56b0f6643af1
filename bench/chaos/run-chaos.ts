/**
 * The chaos run (issue 17, item 3): a steady load of commands over many aggregates (a hot one and
 * a bulk among them) on worker processes that are SIGKILLed every few seconds and replaced, while
 * services of the run's own are stopped hard and started again; then quiescence and the
 * invariants of test/support/invariants.ts. Used by `npm run chaos` (bench/chaos.ts) and, in its
 * short mode, by test/e2e/chaos-short.e2e.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { startApi, type RunningApi } from '../../src/app/api-server';
import { loadConfig } from '../../src/app/config';
import { workflowBundle } from '../../test/support/pipeline';
import { startWorkerPool, type WorkerProcessSpec } from '../../test/support/worker-process';
import { uniqueName } from '../../test/support/env';
import { checkInvariants, type InvariantReport } from '../../test/support/invariants';
import { startPrivateStack, type PrivateService } from './private-stack';

export interface ChaosPlan {
  mode: 'short' | 'full';
  /** Seconds of load; faults happen inside it. */
  loadSeconds: number;
  workers: number;
  kills: number;
  /** Services stopped for `outageSeconds` each, one at a time. */
  outages: PrivateService[];
  outageSeconds: number;
  temporalRestarts: number;
  apiRestarts: number;
  /** Commands sent per second (single commands; the bulk is extra). */
  rate: number;
  aggregates: number;
  bulkSize: number;
}

export const PLANS: Record<'short' | 'full', ChaosPlan> = {
  short: { mode: 'short', loadSeconds: 36, workers: 2, kills: 3, outages: ['kafka'], outageSeconds: 10, temporalRestarts: 0, apiRestarts: 0, rate: 4, aggregates: 40, bulkSize: 200 },
  full: {
    mode: 'full',
    loadSeconds: 300,
    workers: 3,
    kills: 20,
    outages: ['kafka', 'minio', 'postgres'],
    outageSeconds: 30,
    temporalRestarts: 2,
    apiRestarts: 1,
    rate: 4,
    aggregates: 200,
    bulkSize: 2000,
  },
};

export interface ChaosReport {
  plan: ChaosPlan;
  started_at: string;
  commands: { accepted: number; completed: number; failed: Record<string, number>; unaccepted: number };
  events: number;
  kills: number;
  worker_restarts: number;
  outages: { service: string; seconds: number }[];
  lost: number;
  duplicated: number;
  gaps: number;
  order_violations: number;
  read_models_equal: boolean | undefined;
  left_running: number;
  seconds_to_quiesce: number;
  max_command_latency_s: number;
  reconcile: unknown;
  invariants: InvariantReport;
  seconds_total: number;
}

/** Business outcomes a command may fail with under any fault; anything else counts as a failure of the run. */
const BUSINESS_CODES = new Set(['INSTANCE_EXISTS', 'INSTANCE_NOT_FOUND', 'VERSION_CONFLICT']);

export async function runChaos(plan: ChaosPlan, say: (line: string) => void = (l) => process.stdout.write(`[chaos] ${l}\n`)): Promise<ChaosReport> {
  const t0 = Date.now();
  const secs = () => ((Date.now() - t0) / 1000).toFixed(0).padStart(4);
  const log = (l: string) => say(`${secs()}s ${l}`);
  const privateServices: PrivateService[] = [...new Set<PrivateService>([...plan.outages, ...(plan.temporalRestarts ? ['temporal' as const] : [])])];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spice-chaos-'));
  log(`starting private ${privateServices.join(', ')} (data in ${dir})`);
  const stack = await startPrivateStack(process.env, privateServices, path.join(dir, 'stack')).catch((err: unknown) => {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const env = { ...stack.env, API_RATE_LIMIT: '1000000', API_BULK_RATE_LIMIT: '100000', API_MAX_INFLIGHT_COMMANDS: '1000000', LOG_LEVEL: 'error' };
  const config = loadConfig({ ...process.env, ...env });
  const id = uniqueName('chaos');
  const names = { schema: id.replace(/-/g, '_'), readModelSchema: `${id.replace(/-/g, '_')}_rm`, s3Prefix: `${id}/`, topic: id, taskQueue: id };
  let api: RunningApi | undefined;
  let connection: Connection | undefined;
  let pool: Awaited<ReturnType<typeof startWorkerPool>> | undefined;
  try {
    const bundle = path.join(dir, 'workflow-bundle.js');
    fs.writeFileSync(bundle, (await workflowBundle()).code);
    api = await startApi(config, { ...names, port: 0 });
    const port = Number(new URL(api.url).port);
    const base = `${api.url}/api/v1`;
    const auth = { authorization: `Bearer ${config.API_DEV_KEY}`, 'content-type': 'application/json' };
    connection = await Connection.connect({ address: config.temporalAddress });
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    const spec: WorkerProcessSpec = { ...names, identity: 'chaos', workflowBundle: bundle };
    pool = await startWorkerPool(plan.workers, spec, env);
    log(`${plan.workers} workers on task queue ${id}`);

    /** A command sent until the API accepts it (same Idempotency-Key each time): its command id, or undefined at the deadline. */
    const submit = async (method: string, p: string, body: unknown, deadline: number, wait = false): Promise<string | undefined> => {
      const key = randomUUID();
      while (Date.now() < deadline) {
        try {
          const res = await fetch(`${base}${p}`, {
            method,
            headers: { ...auth, 'idempotency-key': key, ...(wait ? { prefer: 'wait=30' } : {}) },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(35_000),
          });
          const answer = (await res.json().catch(() => ({}))) as { command_id?: string };
          if (res.status < 300 && answer.command_id) return answer.command_id;
        } catch {
          // the API restarting, or a dependency of the request down: the same key again
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      return undefined;
    };

    const db = 'chaos';
    const setupDeadline = Date.now() + 120_000;
    await submit('POST', '/databases', { name: db }, setupDeadline, true);
    await submit('POST', `/databases/${db}/classes`, { id: 'Item', label: 'Item', properties: [{ name: 'n', type: 'integer', required: true }], relationships: [] }, setupDeadline, true);
    const seeded = await submit('POST', `/databases/${db}/classes/Item/instances`, { id: 'hot', properties: { n: 0 } }, setupDeadline, true);
    if (!seeded) throw new Error('the chaos database could not be set up');

    // Load: creations, updates of created instances, the hot instance, one bulk.
    const accepted: string[] = [];
    let unaccepted = 0;
    const created: string[] = [];
    const loadEnd = Date.now() + plan.loadSeconds * 1000;
    const inflight: Promise<void>[] = [];
    const send = (method: string, p: string, body: unknown, onAccepted?: () => void) => {
      inflight.push(
        submit(method, p, body, loadEnd + 120_000).then((commandId) => {
          if (commandId === undefined) unaccepted++;
          else {
            accepted.push(commandId);
            onAccepted?.();
          }
        }),
      );
    };
    send('POST', `/databases/${db}/classes/Item/instances:bulk`, { instances: Array.from({ length: plan.bulkSize }, (_, i) => ({ id: `bulk-${i}`, properties: { n: i } })) });
    let n = 0;
    const load = (async () => {
      while (Date.now() < loadEnd) {
        const r = Math.random();
        const i = n++;
        if (r < 0.15) send('PUT', `/databases/${db}/classes/Item/instances/hot`, { properties: { n: i } });
        else if (r < 0.55 && created.length) send('PUT', `/databases/${db}/classes/Item/instances/${created[Math.floor(Math.random() * created.length)]}`, { properties: { n: i } });
        else {
          const inst = `i${i % plan.aggregates}-${i}`;
          send('POST', `/databases/${db}/classes/Item/instances`, { id: inst, properties: { n: i } }, () => created.push(inst));
        }
        await new Promise((r) => setTimeout(r, 1000 / plan.rate));
      }
    })();

    // Faults, spread over the load: kills at a steady pace, outages and restarts one at a time.
    const outages: { service: string; seconds: number }[] = [];
    let kills = 0;
    const killer = (async () => {
      const every = (plan.loadSeconds * 1000) / (plan.kills + 1);
      for (let k = 0; k < plan.kills; k++) {
        await new Promise((r) => setTimeout(r, every));
        // Under load a replacement can take a minute to poll: the kill waits for a worker to kill.
        while (!pool!.killOne()) {
          if (Date.now() > loadEnd + 120_000) return;
          await new Promise((r) => setTimeout(r, 500));
        }
        kills++;
      }
    })();
    const outage = async (service: PrivateService, seconds: number) => {
      const start = Date.now();
      await stack.stop(service);
      log(`${service} stopped`);
      await new Promise((r) => setTimeout(r, seconds * 1000));
      await stack.start(service);
      outages.push({ service, seconds: Math.round((Date.now() - start) / 100) / 10 });
      log(`${service} back after ${outages[outages.length - 1].seconds} s`);
    };
    const faults = (async () => {
      const steps: (() => Promise<void>)[] = [
        ...plan.outages.map((s) => () => outage(s, plan.outageSeconds)),
        ...Array.from({ length: plan.temporalRestarts }, () => () => outage('temporal', 1)),
        ...Array.from({ length: plan.apiRestarts }, () => async () => {
          await api!.close();
          api = await startApi(config, { ...names, port });
          outages.push({ service: 'api', seconds: 0 });
          log('api restarted');
        }),
      ];
      const gap = (plan.loadSeconds * 1000) / (steps.length + 1);
      for (const step of steps) {
        await new Promise((r) => setTimeout(r, gap / 2));
        await step();
      }
    })();
    await Promise.all([load, killer, faults]);
    await Promise.all(inflight);
    log(`load over: ${accepted.length} commands accepted, ${unaccepted} not, ${kills} kills; waiting for quiescence`);

    // Quiescence: every accepted command's run closed.
    const quiesceStart = Date.now();
    const wanted = new Set(accepted.map((c) => `command-${c}`));
    const closed = new Map<string, { status: string; latency: number }>();
    while (Date.now() - quiesceStart < 15 * 60_000) {
      try {
        for await (const w of client.workflow.list({ query: `TaskQueue = '${id}' AND ExecutionStatus != 'Running'` })) {
          if (wanted.has(w.workflowId)) closed.set(w.workflowId, { status: w.status.name, latency: ((w.closeTime?.getTime() ?? 0) - w.startTime.getTime()) / 1000 });
        }
      } catch (err) {
        // A Temporal just restarted answers Unavailable or NamespaceNotFound for a moment: ask again.
        log(`visibility list failed (${(err as Error).message}); again`);
      }
      if (closed.size >= wanted.size) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    const quiesced = (Date.now() - quiesceStart) / 1000;
    const failed: Record<string, number> = {};
    for (const workflowId of wanted) {
      const c = closed.get(workflowId);
      if (c?.status === 'COMPLETED') continue;
      let code = c?.status ?? 'NOT_CLOSED';
      if (c?.status === 'FAILED') {
        const err = await client.workflow
          .getHandle(workflowId)
          .result()
          .then(
            () => undefined,
            (e: { cause?: { type?: string } }) => e.cause?.type,
          );
        code = BUSINESS_CODES.has(err ?? '') ? `business:${err}` : `FAILED:${err}`;
      }
      failed[code] = (failed[code] ?? 0) + 1;
    }
    log(`quiet after ${quiesced.toFixed(0)} s; reconciling once and checking the invariants`);
    const reconcile = await client.workflow.execute('reconcileDeliveries', { taskQueue: id, workflowId: uniqueName('chaos-reconcile'), args: [{ grace_seconds: 0 }] });
    const invariants = await checkInvariants({ infra: api.infra, prefix: names.s3Prefix, client, taskQueue: id, rebuild: true });
    return {
      plan,
      started_at: new Date(t0).toISOString(),
      commands: { accepted: accepted.length, completed: [...closed.values()].filter((c) => c.status === 'COMPLETED').length, failed, unaccepted },
      events: invariants.events,
      kills,
      worker_restarts: pool.started() - plan.workers,
      outages,
      lost: invariants.lost.length + invariants.unrecorded.length + invariants.undelivered.length,
      duplicated: invariants.duplicates,
      gaps: invariants.gaps.length,
      order_violations: invariants.orderViolations.length,
      read_models_equal: invariants.readModelsEqual,
      left_running: invariants.running,
      seconds_to_quiesce: Math.round(quiesced),
      max_command_latency_s: Math.max(0, ...[...closed.values()].map((c) => c.latency)),
      reconcile,
      invariants,
      seconds_total: Math.round((Date.now() - t0) / 1000),
    };
  } finally {
    await pool?.stop();
    await connection?.close();
    if (api) {
      await api.infra.ownerPool.query(`DROP SCHEMA IF EXISTS ${names.schema} CASCADE; DROP SCHEMA IF EXISTS ${names.readModelSchema} CASCADE`).catch(() => undefined);
      await api.close();
    }
    await stack.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The table the run prints and CHAOS.md shows. */
export function chaosTable(r: ChaosReport): string {
  const failedBusiness = Object.entries(r.commands.failed).filter(([k]) => k.startsWith('business:'));
  const failedOther = Object.entries(r.commands.failed).filter(([k]) => !k.startsWith('business:'));
  const rows: [string, string][] = [
    ['mode', `${r.plan.mode} (${r.plan.loadSeconds} s of load, ${r.plan.workers} workers, ${r.plan.rate} commands/s + a bulk of ${r.plan.bulkSize})`],
    ['commands accepted', String(r.commands.accepted)],
    ['completed', String(r.commands.completed)],
    ['failed for a business reason', failedBusiness.map(([k, v]) => `${k.slice(9)} ${v}`).join(', ') || '0'],
    ['failed otherwise / not closed', failedOther.map(([k, v]) => `${k} ${v}`).join(', ') || '0'],
    ['events (S3 stream versions)', String(r.events)],
    ['worker kills (SIGKILL)', `${r.kills} (${r.worker_restarts} restarts)`],
    ['outages', r.outages.map((o) => `${o.service} ${o.seconds} s`).join(', ') || 'none'],
    ['lost (unrecorded, undelivered, not in Kafka)', String(r.lost)],
    ['duplicated Kafka messages', String(r.duplicated)],
    ['stream gaps', String(r.gaps)],
    ['Kafka order violations', String(r.order_violations)],
    ['read models equal to a rebuild', String(r.read_models_equal)],
    ['workflows left running', String(r.left_running)],
    ['time to quiesce', `${r.seconds_to_quiesce} s`],
    ['max command latency', `${r.max_command_latency_s.toFixed(1)} s`],
  ];
  return ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
}

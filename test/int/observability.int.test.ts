/**
 * deploy/observability/ against running processes: after a short workload through the real API
 * and a worker process of its own, every metric a dashboard panel or an alert rule names is served
 * by the API's or the worker's /metrics (the worker's includes the Temporal SDK's metrics), and the
 * pipeline's metrics moved as the workload says. The rules' own tests: `npm run check:alerts` (promtool).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Registry } from 'prom-client';
import { startApi, type RunningApi } from '../../src/app/api-server';
import { createEventReader } from '../../src/adapters/kafka/event-reader';
import { startWorkerProcess, type WorkerProcess } from '../support/worker-process';
import { seedDatabase, sendJson, useApiKey, withAuth } from '../support/http';
import { eventually, testConfig, uniqueName } from '../support/env';
import { metricNamesIn, sampleSum, serves } from '../support/metrics';

jest.setTimeout(240_000);

const dir = path.join(__dirname, '..', '..', 'deploy', 'observability');
const dashboard = JSON.parse(fs.readFileSync(path.join(dir, 'grafana', 'spice-oms-dashboard.json'), 'utf8'));
const rules = fs.readFileSync(path.join(dir, 'prometheus', 'alert-rules.yml'), 'utf8');

const panelExprs = (): string[] => dashboard.panels.flatMap((p: { targets?: { expr: string }[] }) => (p.targets ?? []).map((t) => t.expr));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

describe('dashboard and alert rules', () => {
  test('the dashboard has the rows an on-call engineer looks for, each with panels', () => {
    const rows = dashboard.panels.filter((p: { type: string }) => p.type === 'row').map((p: { title: string }) => p.title);
    expect(rows).toEqual(['Commands', 'Delivery', 'Storage', 'Temporal worker', 'Migration']);
    expect(panelExprs().length).toBeGreaterThanOrEqual(20);
  });
});

describe('metrics of running processes after a short workload', () => {
  let api: RunningApi;
  let worker: WorkerProcess;
  let workerMetricsUrl: string;
  let db: string;

  beforeAll(async () => {
    const id = uniqueName('obs');
    const schema = id.replace(/-/g, '_');
    const isolation = { schema, readModelSchema: `${schema}_rm`, s3Prefix: `${id}/`, topic: id, taskQueue: id };
    api = await startApi(testConfig, { ...isolation, port: 0 });
    const [metricsPort, sdkPort] = [await freePort(), await freePort()];
    workerMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    worker = await startWorkerProcess({ ...isolation, identity: `${id}-worker` }, 180_000, { WORKER_METRICS_PORT: String(metricsPort), TEMPORAL_SDK_METRICS_PORT: String(sdkPort) });

    db = schema.slice(0, 40);
    const base = `${api.url}/api/v1`;
    useApiKey(base, (await api.keys.create({ name: `${id}-writer`, role: 'writer', created_by: 'test' })).key);
    await seedDatabase(base, db, { id: 'P', label: 'P', properties: [{ name: 'n', type: 'integer' }], relationships: [] });
    const wait = { prefer: 'wait=30' };
    expect((await sendJson(base, 'POST', `/databases/${db}/classes/P/instances`, { id: 'a', properties: { n: 1 } }, wait)).status).toBe(201);
    expect((await sendJson(base, 'PUT', `/databases/${db}/classes/P/instances/a`, { properties: { n: 2 } }, wait)).status).toBe(200);
    // Refused by the domain: the run ends FAILED.
    expect((await sendJson(base, 'POST', `/databases/${db}/classes/P/instances`, { id: 'a', properties: { n: 3 } }, wait)).status).toBe(409);
    // A bulk runs regular activities over several workflow tasks (the single commands above take the
    // fast path: one local activity, one task), so the SDK's activity and sticky-cache series exist.
    expect(
      (
        await sendJson(
          base,
          'POST',
          `/databases/${db}/classes/P/instances:bulk`,
          {
            instances: [
              { id: 'b1', properties: { n: 1 } },
              { id: 'b2', properties: { n: 2 } },
            ],
          },
          wait,
        )
      ).status,
    ).toBe(201);
    await fetch(`${base}/databases/${db}/instances/a`, { headers: withAuth(base) });
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.close();
  });

  /**
   * A consumer's /metrics: what a process serves once it reads the topic with the event reader
   * every consumer (and the consumer kit) uses; the series start at 0 (relay.int.test.ts and
   * consumer-kit.int.test.ts count real reads).
   */
  const consumerMetrics = async () => {
    const registry = new Registry();
    createEventReader({ registry, readEvent: () => Promise.reject(new Error('not read here')) });
    return registry.metrics();
  };
  const scrape = async () => [await (await fetch(`${api.url}/metrics`)).text(), await (await fetch(workerMetricsUrl)).text(), await consumerMetrics()].join('\n');

  test('every metric named in a panel or a rule is served', async () => {
    const served = await eventually(scrape, (t) => sampleSum(t, 'spice_ledger_pending_events') === 0 && serves(t, 'temporal_workflow_task_execution_latency_seconds_bucket'), 30_000, 500);
    const names = metricNamesIn([...panelExprs(), rules].join('\n'));
    expect(names.length).toBeGreaterThan(20);
    expect(names.filter((n) => !serves(served, n))).toEqual([]);
  });

  test('the pipeline counted what the workload did', async () => {
    const t = await eventually(scrape, (x) => sampleSum(x, 'spice_commands_total', { command_type: 'CREATE_INSTANCE', status: 'FAILED' }) >= 1, 30_000, 500);
    expect(sampleSum(t, 'spice_commands_total', { command_type: 'CREATE_DATABASE', status: 'COMPLETED' })).toBe(1);
    expect(sampleSum(t, 'spice_commands_total', { command_type: 'CREATE_INSTANCE', status: 'COMPLETED' })).toBe(1);
    expect(sampleSum(t, 'spice_commands_total', { command_type: 'UPDATE_INSTANCE', status: 'COMPLETED' })).toBe(1);
    expect(sampleSum(t, 'spice_commands_total', { command_type: 'CREATE_INSTANCE', status: 'FAILED' })).toBe(1);
    expect(sampleSum(t, 'spice_commands_total', { command_type: 'BULK_CREATE_INSTANCES', status: 'COMPLETED' })).toBe(1);
    // Five events: database, class, instance created, instance updated, one bulk batch.
    expect(sampleSum(t, 'spice_step_duration_seconds_count', { step: 's3_append', outcome: 'success' })).toBe(5);
    expect(sampleSum(t, 'spice_step_duration_seconds_count', { step: 'ledger_record', outcome: 'success' })).toBeGreaterThanOrEqual(5);
    expect(sampleSum(t, 'spice_step_duration_seconds_count', { step: 'kafka_publish', outcome: 'success' })).toBeGreaterThanOrEqual(5);
    expect(sampleSum(t, 'spice_step_duration_seconds_count', { step: 'projection', outcome: 'success' })).toBeGreaterThanOrEqual(5);
    expect(sampleSum(t, 'spice_events_relayed_total')).toBe(5);
    expect(sampleSum(t, 'spice_storage_mode', { mode: testConfig.storageMode })).toBeGreaterThanOrEqual(1);
    expect(sampleSum(t, 'spice_commands_retrying')).toBe(0);
    expect(sampleSum(t, 'temporal_workflow_task_execution_latency_seconds_count')).toBeGreaterThan(0);
    expect(sampleSum(t, 'http_request_duration_seconds_count', { route: '/api/v1/databases/:db/classes/:classId/instances', status_code: '409' })).toBe(1);
    // Labels stay low-cardinality: no id of the workload in any label.
    expect(t).not.toContain('"a"');
    expect(t).not.toContain(db);
  });
});

/** spice_events_set_aside_total is served: by the API's /metrics (embedded worker) and by a worker's own endpoint. */
import pino from 'pino';
import request from 'supertest';
import { setAsideCounter } from '../../src/activities/failure-metrics';
import { createApp } from '../../src/api/app';
import { inMemoryPorts } from '../support/in-memory-ports';
import { serveProcessMetrics } from '../../src/app/metrics-server';

beforeAll(() => {
  setAsideCounter().inc({ stage: 'record', code: 'EVENT_NOT_RECORDABLE' });
});

const line = /spice_events_set_aside_total\{stage="record",code="EVENT_NOT_RECORDABLE"\} 1/;

test('the API serves the process counters next to its own', async () => {
  const res = await request(createApp(inMemoryPorts(), pino({ level: 'silent' }))).get('/metrics');
  expect(res.status).toBe(200);
  expect(res.text).toMatch(line);
  expect(res.text).toMatch(/# TYPE http_request_duration_seconds histogram/);
});

test('a worker serves them at /metrics when WORKER_METRICS_PORT is set', async () => {
  const server = await serveProcessMetrics('127.0.0.1', 0, 'WORKER_METRICS_PORT');
  try {
    const address = server.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${address.port}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(line);
    expect((await fetch(`http://127.0.0.1:${address.port}/other`)).status).toBe(404);
  } finally {
    server.close();
  }
});

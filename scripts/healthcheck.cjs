#!/usr/bin/env node
/**
 * The container's health check: `node scripts/healthcheck.cjs [api|worker|consumer]`. Plain Node, no tsx, so
 * it costs a few milliseconds every interval. The API answers /health/live on API_PORT; a worker has
 * no API, so its /metrics server (WORKER_METRICS_PORT) is what shows its event loop still turns.
 * Exit 0 healthy, 1 not (Docker's convention).
 */
'use strict';
const http = require('node:http');

const role = process.argv[2] ?? 'api';
const targets = {
  api: { port: Number(process.env.API_PORT ?? 8080), path: '/health/live' },
  worker: { port: Number(process.env.WORKER_METRICS_PORT ?? 9464), path: '/metrics' },
  consumer: { port: Number(process.env.CONSUMER_METRICS_PORT ?? 9465), path: '/metrics' },
};
const target = targets[role] ?? targets.api;

const req = http.get({ host: '127.0.0.1', port: target.port, path: target.path, timeout: 2000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('timed out')));
req.on('error', (err) => {
  process.stderr.write(`healthcheck ${role}: ${err.message}\n`);
  process.exit(1);
});

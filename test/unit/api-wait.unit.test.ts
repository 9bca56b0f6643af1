/**
 * A wait belongs to its request: the route hands the gateway a signal that aborts when the client
 * goes away, so nothing keeps waiting for an answer nobody will read.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createApp } from '../../src/api/app';
import { inMemoryPorts } from '../support/in-memory-ports';

test('a client that disconnects during ?wait aborts the wait', async () => {
  const ports = inMemoryPorts({ maxWaitMs: 60_000 });
  let started!: () => void;
  const waiting = new Promise<void>((r) => (started = r));
  let aborted!: () => void;
  const abortSeen = new Promise<void>((r) => (aborted = r));
  ports.commands.onWait = (_id, _ms, signal) =>
    new Promise((resolve) => {
      started();
      signal?.addEventListener('abort', () => (aborted(), resolve(null)), { once: true });
    });
  const server = createApp(ports, pino({ level: 'silent' })).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const req = http.request({
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      method: 'POST',
      path: '/api/v1/databases?wait=true',
      headers: { 'content-type': 'application/json' },
    });
    req.on('error', () => undefined);
    req.end(JSON.stringify({ name: 'crm' }));
    await waiting;
    expect(ports.commands.waitCalls[0].signal?.aborted).toBe(false);
    req.destroy();
    await abortSeen;
    expect(ports.commands.waitCalls[0].signal?.aborted).toBe(true);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('a wait that ends normally leaves its signal unaborted until the answer is sent', async () => {
  const ports = inMemoryPorts({ maxWaitMs: 1000 });
  ports.commands.onWait = (id, _ms, signal) => {
    expect(signal?.aborted).toBe(false);
    return ports.commands.complete(id);
  };
  const server = createApp(ports, pino({ level: 'silent' })).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/databases/crm?wait=true`, { method: 'DELETE' });
    expect(res.status).toBe(200);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

/**
 * Every log line of a command carries its ids: the API's request line names the command it
 * submitted or read (command id, workflow id) and, once known, its aggregate and event ids.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { inMemoryPorts } from '../support/in-memory-ports';

function capturingApp() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  const ports = inMemoryPorts();
  return { ports, lines, app: createApp(ports, pino({ level: 'info' }, sink)) };
}

const requestLines = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'request');

test('the request that submits a command and the one that reads it name the command, its workflow, aggregate and events', async () => {
  const { ports, lines, app } = capturingApp();
  const event = { event_id: 'ev-1', event_type: 'DATABASE_CREATED', aggregate_type: 'database', aggregate_id: 'shop', version: 1 };
  ports.commands.onWait = (id) =>
    ports.commands.complete(id, { result: { command_id: id, command_type: 'CREATE_DATABASE', aggregate_type: 'database', aggregate_id: 'shop', version: 1, events: [event], event_count: 1 } });
  const created = await request(app).post('/api/v1/databases').set('Prefer', 'wait=5').send({ name: 'shop' });
  expect(created.status).toBe(201);
  const id = created.body.command_id as string;
  await request(app).get(`/api/v1/commands/${id}`);

  const [submit, read] = requestLines(lines);
  const ids = { command_id: id, workflow_id: `command-${id}`, aggregate: 'database/shop', event_ids: ['ev-1'] };
  expect(submit).toMatchObject({ method: 'POST', status: 201, ...ids });
  expect(read).toMatchObject({ method: 'GET', status: 200, ...ids });
});

test('a command still running is named by its ids alone; a request of no command names none', async () => {
  const { lines, app } = capturingApp();
  const accepted = await request(app).post('/api/v1/databases').send({ name: 'crm' });
  expect(accepted.status).toBe(202);
  await request(app).get('/api/v1/databases');
  const [submit, list] = requestLines(lines);
  expect(submit).toMatchObject({ command_id: accepted.body.command_id, workflow_id: `command-${accepted.body.command_id}` });
  expect(submit).not.toHaveProperty('event_ids');
  expect(list).not.toHaveProperty('command_id');
});

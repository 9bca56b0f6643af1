/**
 * TEMPORAL_BACKEND=server: the pipeline on the Temporal server with its persistence and visibility
 * in PostgreSQL (scripts/stack/temporal-server.ts), on ports of its own beside the stack's dev
 * server. Started here unless one answers there already (a first start on a new machine also
 * creates its two databases), stopped by its pid at the end.
 */
import { Pool } from 'pg';
import { loadConfig } from '../../src/app/config';
import { workflowIdOf } from '../../src/contracts/workflows';
import { ensureTemporalServer, temporalServerEnv, type RunningTemporalServer } from '../../scripts/stack/temporal-server';
import { startPipeline, type Pipeline } from '../support/pipeline';
import { TEST_LIMITS, eventually, testConfig } from '../support/env';
import { sendJson } from '../support/http';

// Frontend 17333 (history 17334, matching 17336, worker 17339, membership ports 300 below, metrics 17335, HTTP 17343).
const PORT = 17333;
const config = loadConfig({ ...TEST_LIMITS, ...temporalServerEnv(PORT) });
const serverDb = (db: string) => new Pool({ connectionString: loadConfig({ ...process.env, PG_DATABASE: db }).databaseOwnerUrl, max: 1 });

let server: RunningTemporalServer | undefined;
let p: Pipeline | undefined;
beforeAll(async () => {
  server = await ensureTemporalServer(config, { startTimeoutS: 90 });
  p = await startPipeline('tserver', config);
}, 180_000);
afterAll(async () => {
  await p?.close();
  await server?.stop();
});

test('a command through the server: COMPLETED, its event in S3, a delivered ledger row, the Kafka message, the workflow in PostgreSQL and found by its search attributes', async () => {
  expect(config.temporalAddress).toBe(`${config.SPICE_HOST}:${PORT}`);
  expect(config.temporalAddress).not.toBe(testConfig.temporalAddress);
  const db = 'on-server';
  const res = await sendJson(p!.url, 'POST', '/databases', { name: db, description: 'on the Temporal server' }, { prefer: 'wait=30' });
  expect(res.status).toBe(201);
  expect(res.body.status).toBe('COMPLETED');
  const [event] = res.body.events;
  expect(event).toMatchObject({ event_type: 'DATABASE_CREATED', aggregate_type: 'database', aggregate_id: db, version: 1 });

  // S3: the event body; the ledger: one delivered row; Kafka: the message.
  expect((await p!.s3Keys('events/')).filter((k) => k.endsWith(`${event.event_id}.json`))).toHaveLength(1);
  const rows = await p!.ledgerRows('event_id = $1', [event.event_id]);
  expect(rows).toHaveLength(1);
  expect(rows[0].status).toBe('delivered');
  await eventually(
    async () => p!.messagesFor(db).length,
    (n) => n >= 1,
  );
  expect(p!.messagesFor(db)[0].headers).toMatchObject({ 'event-id': event.event_id, 'event-type': 'DATABASE_CREATED' });

  // The workflow ran on the server: its execution is a row of the server's PostgreSQL database, and
  // its visibility record there answers a query on the custom search attributes (the Web UI's filters).
  const workflowId = workflowIdOf(res.body.command_id);
  const main = serverDb(`temporal_${PORT}`);
  const visibility = serverDb(`temporal_visibility_${PORT}`);
  try {
    expect((await main.query('SELECT 1 FROM current_executions WHERE workflow_id = $1', [workflowId])).rowCount).toBe(1);
    await eventually(
      async () => (await visibility.query(`SELECT status FROM executions_visibility WHERE workflow_id = $1`, [workflowId])).rows,
      (r) => r.length === 1 && r[0].status === 2, // 2: completed
    );
  } finally {
    await main.end();
    await visibility.end();
  }
  const found = await eventually(
    async () => {
      const ids: string[] = [];
      for await (const w of p!.client.workflow.list({ query: `TaskQueue = '${p!.taskQueue}' AND AggregateId = '${db}' AND CommandType = 'CREATE_DATABASE' AND DatabaseName = '${db}'` }))
        ids.push(w.workflowId);
      return ids;
    },
    (ids) => ids.length === 1,
  );
  expect(found).toEqual([workflowId]);
});

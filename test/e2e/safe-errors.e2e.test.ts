/**
 * GET /commands/{id} and waits answer with codes and our own words, on the real stack: what
 * PostgreSQL said (SQL, schema and table names, hosts) is in the API's log line of that request,
 * not in the answer.
 */
import pino from 'pino';
import { eventually, uniqueName } from '../support/env';
import { startPipeline, type Pipeline } from '../support/pipeline';
import { sendJson, seedDatabase } from '../support/http';

let p: Pipeline;
const lines: Array<Record<string, unknown>> = [];
const db = 'safe';
// A leak would show any of these: the PostgreSQL error's own words, our schema, a host and port.
let internals: RegExp;

beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  p = await startPipeline('e2e-safe', undefined, { apiLogger: logger });
  internals = new RegExp(`10\\.20\\.30\\.40|55432|INSERT INTO|${p.api.infra.schema}|delivery_ledger|raise_exception|P0001`);
  await seedDatabase(p.url, db, { id: 'K', label: 'K', properties: [{ name: 'v', type: 'string' }], relationships: [] });
});
afterAll(async () => {
  await p?.close();
});

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  sendJson(p.url, method, path, body, headers).then((a) => ({ ...a, requestId: a.headers.get('x-request-id') ?? '' }));

const loggedFor = (requestId: string) =>
  lines
    .filter((l) => l.req_id === requestId)
    .map((l) => JSON.stringify(l))
    .join('\n');

/** The answer without the S3 references of its events, whose endpoint is part of the design (consumers read events by it). */
const withoutS3Refs = (text: string) => JSON.stringify(JSON.parse(text), (k, v) => (k === 's3' ? undefined : v));

let key: string;

test('a command retried on a PostgreSQL error shows RETRYING with its activity and a code; the error text is only logged', async () => {
  const ledger = p.api.infra.ledger.table;
  const schema = p.api.infra.schema;
  // PostgreSQL refuses every ledger insert, wording its error as an unreachable host would.
  await p.api.infra.ownerPool.query(`
    CREATE FUNCTION ${schema}.refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'INSERT INTO ${schema}.delivery_ledger refused: could not reach 10.20.30.40:55432'; END $$;
    CREATE TRIGGER refuse_insert BEFORE INSERT ON ${ledger} FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse_insert()`);
  try {
    const stuck = { id: 'stuck', properties: { v: 'x' } };
    // Keys name commands across the whole Temporal namespace: unique per run.
    key = uniqueName('safe-stuck');
    const res = await send('POST', `/databases/${db}/classes/K/instances`, stuck, { prefer: 'wait=2', 'idempotency-key': key });
    expect(res.status).toBe(202);
    const commandId = res.body.command_id as string;
    const retrying = await eventually(
      () => send('GET', `/commands/${commandId}`),
      (r) => r.body.status === 'RETRYING',
      30_000,
      250,
    );
    expect(retrying.body.retry).toMatchObject({ activity: expect.any(String), attempt: expect.any(Number), code: 'DEPENDENCY_FAILED', last_failure: expect.any(String) });
    expect(withoutS3Refs(retrying.text)).not.toMatch(internals);
    expect(loggedFor(retrying.requestId)).toContain('could not reach 10.20.30.40:55432');

    // A resubmission that waits on it answers the same way.
    const waited = await send('POST', `/databases/${db}/classes/K/instances`, stuck, { prefer: 'wait=1', 'idempotency-key': key });
    expect(waited.status).toBe(202);
    expect(waited.body).toMatchObject({ command_id: commandId, status: 'RETRYING' });
    expect(withoutS3Refs(waited.text)).not.toMatch(internals);
    expect(loggedFor(waited.requestId)).toContain('could not reach 10.20.30.40:55432');
  } finally {
    await p.api.infra.ownerPool.query(`DROP TRIGGER refuse_insert ON ${ledger}; DROP FUNCTION ${schema}.refuse_insert()`);
  }
  // Once PostgreSQL takes the row again, the same command completes.
  const done = await send('POST', `/databases/${db}/classes/K/instances`, { id: 'stuck', properties: { v: 'x' } }, { prefer: 'wait=30', 'idempotency-key': key });
  expect(done.body.status).toBe('COMPLETED');
  expect(await p.ledgerRows('aggregate_id = $1', [`${db}:stuck`])).toHaveLength(1);
});

test('a delivery error stored in the ledger row is answered as a safe text and logged under the request id', async () => {
  const res = await send('POST', `/databases/${db}/classes/K/instances`, { id: 'fine', properties: { v: 'y' } }, { prefer: 'wait=30' });
  expect(res.status).toBe(201);
  const [event] = res.body.events;
  // What the relay keeps of a broker failure: the client library's own words.
  await p.api.infra.pool.query(`UPDATE ${p.api.infra.ledger.table} SET last_error = $2 WHERE event_id = $1`, [
    event.event_id,
    'KafkaJSConnectionError: Connection error: connect ECONNREFUSED 10.20.30.40:55432',
  ]);
  const status = await send('GET', `/commands/${res.body.command_id}`);
  expect(status.body.status).toBe('COMPLETED');
  expect(status.body.events[0].delivery).toMatchObject({ status: 'delivered', last_error: expect.any(String) });
  expect(withoutS3Refs(status.text)).not.toMatch(internals);
  expect(status.text).not.toMatch(/ECONNREFUSED|KafkaJS/);
  expect(loggedFor(status.requestId)).toContain('connect ECONNREFUSED 10.20.30.40:55432');
});

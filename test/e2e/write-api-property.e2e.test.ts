/**
 * A property of the whole write API, on the real app, worker and stack: whatever a client sends
 * (generated bodies, ids, headers and content types, hostile strings, huge, deep and inexact
 * values), the answer is never a 5xx, every 4xx is problem+json with a code, nothing is stored for
 * a refused request (S3 prefix, ledger, read models), and every accepted command ends COMPLETED or
 * FAILED, none left RETRYING.
 *
 * FUZZ_RUNS (default 150) and FUZZ_SEED (default: random, printed on failure) set the run; with
 * FUZZ_SHRINK=true a failure is shrunk to a smaller request (slow: each try is a real request).
 */
import http from 'node:http';
import fc from 'fast-check';
import { workflowIdOf } from '../../src/contracts/workflows';
import { eventually, uniqueName } from '../support/env';
import { startPipeline, type Pipeline } from '../support/pipeline';
import { bodyBytes, describeRequest, FIXTURE_PROPERTIES, writeRequests, type Fixture, type WriteRequest } from '../support/write-requests';

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
/** How long an accepted command may take to close before it counts as stuck. */
const CLOSE_WITHIN_MS = 60_000;

let p: Pipeline;
let fixture: Fixture;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

function send(r: { method: string; path: string; headers: Record<string, string>; body?: Buffer }): Promise<Answer> {
  const url = new URL(p.api.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, method: r.method, path: r.path, headers: { ...p.auth, ...r.headers }, agent, timeout: 120_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 120 s')));
    req.on('error', reject);
    req.end(r.body);
  });
}

const sendJson = async (method: string, path: string, body: unknown) =>
  send({ method, path: `/api/v1${path}`, headers: { 'content-type': 'application/json', prefer: 'wait=30' }, body: Buffer.from(JSON.stringify(body)) });

interface Stored {
  s3: string[];
  ledger: string[];
  readModels: Record<string, string>;
}

/** Everything a command can leave behind: the pipeline's S3 keys, ledger rows and read-model tables. */
async function stored(): Promise<Stored> {
  const { pool, readModelSchema } = p.api.infra;
  const tables = ['databases', 'classes', 'instances', 'edges', 'stream_positions'];
  const rm = await pool.query(`SELECT ${tables.map((t) => `(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM ${readModelSchema}.${t} t) AS ${t}`).join(', ')}`);
  return {
    s3: (await p.s3Keys()).sort(),
    ledger: (await p.ledgerRows()).map((r) => `${r.event_id}@${r.aggregate_id}:${r.aggregate_version}`),
    readModels: rm.rows[0],
  };
}

const withoutCommandBlobs = (s: Stored): Stored => ({ ...s, s3: s.s3.filter((k) => !k.startsWith('commands/')) });

type Final = 'COMPLETED' | 'FAILED';

/** Polls the command's status until it closes; a command still open after CLOSE_WITHIN_MS is stuck. */
async function closedStatus(commandId: string): Promise<{ status: Final | string; view: Record<string, unknown> }> {
  const deadline = Date.now() + CLOSE_WITHIN_MS;
  for (;;) {
    const res = await send({ method: 'GET', path: `/api/v1/commands/${encodeURIComponent(commandId)}`, headers: {} });
    const view = JSON.parse(res.text) as Record<string, unknown>;
    if (view.status === 'COMPLETED' || view.status === 'FAILED' || Date.now() > deadline) return { status: String(view.status), view };
    await new Promise((r) => setTimeout(r, 100));
  }
}

const accepted = new Set<string>();
const tally: Record<string, number> = {};

async function check(req: WriteRequest): Promise<void> {
  const before = await stored();
  const res = await send({ method: req.method, path: req.path, headers: req.headers, body: bodyBytes(req.body) });
  const problems: string[] = [];
  const fail = (why: string) => problems.push(why);

  if (res.status >= 500) fail(`answered ${res.status}: ${res.text.slice(0, 500)}`);
  let body: Record<string, unknown> | undefined;
  try {
    body = res.text ? (JSON.parse(res.text) as Record<string, unknown>) : undefined;
  } catch {
    fail(`answer is not JSON: ${res.text.slice(0, 200)}`);
  }
  if (res.status >= 400 && res.status < 500) {
    if (!/^application\/problem\+json/.test(res.contentType)) fail(`a ${res.status} of content type '${res.contentType}'`);
    if (typeof body?.code !== 'string' || body.status !== res.status) fail(`a ${res.status} without its code and status: ${res.text.slice(0, 300)}`);
  }
  const code = typeof body?.code === 'string' ? body.code : String(res.status);
  tally[code] = (tally[code] ?? 0) + 1;

  const commandId = typeof body?.command_id === 'string' ? body.command_id : undefined;
  if (commandId === undefined) {
    // Refused at the door: nothing of it may be anywhere.
    if (res.status >= 400) expectUnchanged(before, await stored(), fail);
  } else {
    accepted.add(commandId);
    const { status, view } = await closedStatus(commandId);
    if (status !== 'COMPLETED' && status !== 'FAILED') fail(`command ${commandId} still ${status} after ${CLOSE_WITHIN_MS} ms: ${JSON.stringify(view).slice(0, 500)}`);
    const outcome = status === 'FAILED' ? `command:FAILED:${(view.error as { code?: string } | undefined)?.code}` : `command:${status}`;
    tally[outcome] = (tally[outcome] ?? 0) + 1;
    // A refused command stores no event; its request body may stay in S3 (a bulk's travels by reference).
    if (status === 'FAILED') expectUnchanged(withoutCommandBlobs(before), withoutCommandBlobs(await stored()), fail);
  }
  if (problems.length > 0) throw new Error(`${problems.join('\n')}\nrequest: ${describeRequest(req)}`);
}

function expectUnchanged(before: Stored, after: Stored, fail: (why: string) => void): void {
  const added = after.s3.filter((k) => !before.s3.includes(k));
  if (added.length > 0) fail(`S3 objects appeared: ${added.slice(0, 5).join(', ')}`);
  const rows = after.ledger.filter((r) => !before.ledger.includes(r));
  if (rows.length > 0) fail(`ledger rows appeared: ${rows.slice(0, 5).join(', ')}`);
  for (const [table, hash] of Object.entries(after.readModels)) if (before.readModels[table] !== hash) fail(`read model ${table} changed`);
}

beforeAll(async () => {
  p = await startPipeline('e2e-fuzz');
  fixture = { db: 'fz', classId: 'Item', instanceIds: ['i1', 'i2', 'i3'], keyPrefix: `${uniqueName('fz')}-` };
  expect((await sendJson('POST', '/databases', { name: fixture.db })).status).toBe(201);
  const cls = { id: fixture.classId, label: 'Item', properties: FIXTURE_PROPERTIES, relationships: [{ predicate: 'knows', target_class: fixture.classId, cardinality: 'n:m' }] };
  expect((await sendJson('POST', `/databases/${fixture.db}/classes`, cls)).status).toBe(201);
  for (const id of fixture.instanceIds) {
    expect((await sendJson('POST', `/databases/${fixture.db}/classes/${fixture.classId}/instances`, { id, properties: { name: id } })).status).toBe(201);
  }
});

afterAll(async () => {
  agent.destroy();
  await p?.close();
});

test(`the write API over ${RUNS} generated requests: no 5xx, 4xx as problem+json, nothing stored when refused, no command left open`, async () => {
  try {
    await fc.assert(fc.asyncProperty(writeRequests(fixture), check), { numRuns: RUNS, seed: SEED, endOnFailure: process.env.FUZZ_SHRINK !== 'true' });
  } catch (err) {
    throw new Error(`write-api property failed; reproduce with FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}\n${(err as Error).message}`);
  }
  process.stdout.write(`write-api property: ${RUNS} runs, seed ${SEED}, ${accepted.size} commands accepted; answers ${JSON.stringify(tally)}\n`);

  // Quiescence: no command of this pipeline is left open, in Temporal's view either.
  for (const id of accepted) {
    const { status } = await closedStatus(id);
    expect([id, status]).toEqual([id, expect.stringMatching(/^(COMPLETED|FAILED)$/)]);
  }
  const open: string[] = [];
  for await (const w of p.client.workflow.list({ query: `TaskQueue = '${p.taskQueue}' AND WorkflowType = 'processCommand' AND ExecutionStatus = 'Running'` })) open.push(w.workflowId);
  expect(open).toEqual([]);
  for (const id of accepted) expect(open).not.toContain(workflowIdOf(id));

  // Every stored event has its ledger row, delivered, and its Kafka message; nothing else does.
  const stored = (await p.s3Keys('events/')).map((k) => k.slice(k.lastIndexOf('/') + 1).replace(/\.json$/, '')).sort();
  const ledger = await p.ledgerRows();
  // A bulk's claim of an instance id is a ledger row without an event body: nothing to relay.
  const eventRows = ledger.filter((r) => r.s3_reference !== null);
  expect(eventRows.map((r) => r.event_id).sort()).toEqual(stored);
  expect(ledger.filter((r) => r.status !== 'delivered').map((r) => `${r.event_id} ${r.status}`)).toEqual([]);
  await eventually(
    async () => new Set(p.messages.map((m) => m.headers['event-id'])).size,
    (n) => n >= stored.length,
    30_000,
  );
  expect([...new Set(p.messages.map((m) => m.headers['event-id']))].sort()).toEqual(stored);
}, 1_800_000);

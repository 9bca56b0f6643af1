/**
 * Invariant 6: an accepted command survives a service outage. While Kafka or MinIO does not
 * answer, the command waits in RETRYING (visible through the status endpoint); once the service is
 * back, it completes and is delivered exactly once in the ledger.
 */
import { startPipeline, Pipeline } from '../support/pipeline';
import { eventually } from '../support/env';
import { pauseService, resumeAll } from '../support/outage';
import { sendJson, seedDatabase } from '../support/http';

let p: Pipeline;
const db = 'outage';

const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => sendJson(p.url, method, path, body, headers);
const status = async (id: string) => (await send('GET', `/commands/${id}`)).body;

beforeAll(async () => {
  p = await startPipeline('e2e-outage');
  await seedDatabase(p.url, db, { id: 'Thing', label: 'Thing', properties: [{ name: 'n', type: 'integer' }], relationships: [] });
});
afterAll(async () => {
  resumeAll();
  await p?.close();
});

test('Kafka away: the event is stored and recorded, delivery retries, and completes when Kafka is back', async () => {
  pauseService('kafka');
  const pausedAt = Date.now();
  try {
    const accepted = await send('POST', `/databases/${db}/classes/Thing/instances`, { id: 'k1', properties: { n: 1 } });
    expect(accepted.status).toBe(202);
    const id = accepted.body.command_id;
    const retrying = await eventually(
      () => status(id),
      (s) => s.status === 'RETRYING',
      120_000,
      500,
    );
    expect(retrying.retry.activity).toBe('deliver');
    // Which step waits and since when: the relay's first attempt, not the current one's.
    expect(retrying.retry.step).toBe('relay');
    const since = Date.parse(retrying.retry.since);
    expect(since).toBeGreaterThanOrEqual(pausedAt - 1000);
    expect(since).toBeLessThanOrEqual(Date.now());
    // Set only while the step waits out its backoff, not while an attempt runs.
    if (retrying.retry.next_attempt_at !== undefined) expect(Date.parse(retrying.retry.next_attempt_at)).toBeGreaterThan(since);
    expect(retrying.retry.last_failure).toContain(`waiting since ${retrying.retry.since}`);
    const later = await eventually(
      () => status(id),
      (s) => s.retry?.attempt > retrying.retry.attempt,
      60_000,
      500,
    );
    expect(later.retry).toMatchObject({ step: 'relay', since: retrying.retry.since });
    // Stored in S3 and the ledger already; pending there with the failed attempt noted.
    const rows = await p.ledgerRows('aggregate_id = $1', [`${db}:k1`]);
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe('pending');
    expect(rows[0].attempts).toBeGreaterThanOrEqual(1);
    expect(rows[0].last_error).toEqual(expect.any(String));
    expect((await p.s3Keys('indexes/by-aggregate/instance/')).some((k) => k.includes('k1'))).toBe(true);

    resumeAll();
    const done = await eventually(
      () => status(id),
      (s) => s.status === 'COMPLETED',
      90_000,
      500,
    );
    expect(done.events[0].delivery.status).toBe('delivered');
    const after = await p.ledgerRows('aggregate_id = $1', [`${db}:k1`]);
    expect(after).toHaveLength(1);
    expect(after[0].status).toBe('delivered');
    await eventually(
      async () => p.messagesFor(`${db}:k1`).length,
      (n) => n >= 1,
      30_000,
    );
  } finally {
    resumeAll();
  }
}, 300_000);

test('MinIO away: the command retries and completes when MinIO is back; nothing is lost', async () => {
  pauseService('minio');
  let id: string;
  try {
    const accepted = await send('POST', `/databases/${db}/classes/Thing/instances`, { id: 'm1', properties: { n: 2 } });
    expect(accepted.status).toBe(202);
    id = accepted.body.command_id;
    const retrying = await eventually(
      () => status(id),
      (s) => s.status === 'RETRYING',
      120_000,
      500,
    );
    expect(retrying.retry).toMatchObject({ step: 'append', since: expect.any(String) });
    expect(await p.ledgerRows('aggregate_id = $1', [`${db}:m1`])).toHaveLength(0);
  } finally {
    resumeAll();
  }
  const done = await eventually(
    () => status(id!),
    (s) => s.status === 'COMPLETED',
    120_000,
    500,
  );
  expect(done.result.version).toBe(1);
  expect((await send('GET', `/databases/${db}/instances/m1`)).body.properties).toEqual({ n: 2 });
  expect(await p.ledgerRows('aggregate_id = $1', [`${db}:m1`])).toHaveLength(1);
}, 300_000);

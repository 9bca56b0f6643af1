/**
 * Records workflow histories for the replay test (test/int/replay.int.test.ts uses them to prove that the
 * current workflow code still replays what earlier code wrote). Run against the stack:
 *   npx tsx scripts/record-histories.ts <label>
 * It runs one of each kind of command through an isolated pipeline and writes
 * test/fixtures/histories/<label>-<name>.json. Keep old files: each stands for runs that may still
 * be in flight when new code is deployed. Label a new set after the workflow change it records.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { execFileSync } from 'node:child_process';
import { loadConfig } from '../src/app/config';
import { startApi } from '../src/app/api-server';
import { bundleInChildProcess, createCommandWorker } from '../src/app/command-worker';
import { stackPaths } from './stack/services';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const config = loadConfig();
const label = process.argv[2];
if (!label || !/^[a-z0-9-]+$/.test(label)) throw new Error('usage: record-histories <label>, e.g. v3-my-change');
const out = path.join(__dirname, '..', 'test', 'fixtures', 'histories');

/** The API and a worker on a task queue, schemas, key prefix and topic of their own, dropped at the end. */
async function startIsolated() {
  const id = `record-${Date.now().toString(36)}`;
  const schema = id.replace(/-/g, '_');
  const api = await startApi(config, { schema, readModelSchema: `${schema}_rm`, s3Prefix: `${id}/`, topic: id, port: 0, taskQueue: id });
  await api.infra.relay.start();
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const worker = await createCommandWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: id,
    deps: api.infra.activityDeps(),
    rebuild: api.infra.rebuildDeps(),
    reconcile: api.infra.reconcileDeps(),
    workflowBundle: await bundleInChildProcess(),
  });
  const running = worker.run();
  const { key } = await api.keys.create({ name: `${id}-writer`, role: 'writer', created_by: 'record-histories' });
  return {
    url: `${api.url}/api/v1`,
    auth: { authorization: `Bearer ${key}` },
    async close() {
      worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
      await api.infra.ownerPool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; DROP SCHEMA IF EXISTS ${schema}_rm CASCADE`).catch(() => undefined);
      await api.close();
    },
  };
}

async function main(): Promise<void> {
  const p = await startIsolated();
  const send = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${p.url}${url}`, { method, headers: { 'content-type': 'application/json', prefer: 'wait=30', ...p.auth }, body: body === undefined ? undefined : JSON.stringify(body) });
    return (await res.json()) as { command_id: string };
  };
  const runs: Record<string, string> = {};
  try {
    runs['create-database'] = (await send('POST', '/databases', { name: 'replay' })).command_id;
    runs['create-class'] = (await send('POST', '/databases/replay/classes', { id: 'T', label: 'T', properties: [{ name: 'x', type: 'integer' }], relationships: [] })).command_id;
    runs['create-instance'] = (await send('POST', '/databases/replay/classes/T/instances', { id: 't1', properties: { x: 1 } })).command_id;
    runs['update-instance'] = (await send('PUT', '/databases/replay/classes/T/instances/t1', { properties: { x: 2 } })).command_id;
    runs['refused-instance'] = (await send('POST', '/databases/replay/classes/T/instances', { id: 't1', properties: { x: 3 } })).command_id;
    runs['bulk-create'] = (await send('POST', '/databases/replay/classes/T/instances:bulk', { instances: Array.from({ length: 2500 }, (_, i) => ({ id: `b${i}`, properties: { x: i } })) })).command_id;
    fs.mkdirSync(out, { recursive: true });
    for (const [name, commandId] of Object.entries(runs)) {
      // Exported by the temporal CLI, exactly as a user would export a production history.
      const json = execFileSync(stackPaths(config).temporalBin, ['workflow', 'show', '--address', config.temporalAddress, '--workflow-id', `command-${commandId}`, '--output', 'json']);
      fs.writeFileSync(path.join(out, `${label}-${name}.json`), json);
      process.stdout.write(`recorded ${name} (${JSON.parse(String(json)).events.length} events)\n`);
    }
  } finally {
    await p.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);

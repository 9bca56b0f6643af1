/**
 * Rebuilds the read models from the event store into a fresh schema and compares the result with
 * the live read models:   npm run rebuild -- [target_schema]
 * Runs as the rebuildReadModels workflow on the command task queue (a worker must be running), so
 * it survives restarts; progress is printed from its query.
 */
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../src/app/config';
import { temporalConnectionOptions } from '../src/app/temporal-connection';
import { rebuildProgressQuery, rebuildReadModels } from '../src/workflows/rebuild-read-models';

async function main(): Promise<void> {
  const config = loadConfig();
  const target = process.argv[2] ?? `read_models_rebuild_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(target)) throw new Error(`invalid schema name '${target}'`);
  const connection = await Connection.connect(temporalConnectionOptions(config));
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const handle = await client.workflow.start(rebuildReadModels, {
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    workflowId: `rebuild-${target}`,
    args: [{ target_schema: target }],
  });
  process.stdout.write(`rebuilding into schema ${target} (workflow ${handle.workflowId}, see ${config.temporalUiUrl})\n`);
  const timer = setInterval(async () => {
    const p = await handle.query(rebuildProgressQuery).catch(() => undefined);
    if (p) process.stdout.write(`  ${p.events} events replayed\n`);
  }, 2000);
  try {
    const outcome = await handle.result();
    process.stdout.write(`${outcome.events} events replayed into ${outcome.target_schema}: ${outcome.equal ? 'equal to the live read models' : 'DIFFERS from the live read models'}\n`);
    if (outcome.set_aside > 0) {
      const by = Object.entries(outcome.set_aside_by ?? {})
        .map(([k, n]) => `${k}=${n}`)
        .join(', ');
      process.stdout.write(`  ${outcome.set_aside} event(s) set aside, not projected (${by}); their ids are in the worker's log\n`);
    }
    for (const d of outcome.differences) process.stdout.write(`  ${d.table}: ${d.missing_in_live} missing in live, ${d.missing_in_rebuild} missing in rebuild, ${d.different} different\n`);
    process.exitCode = outcome.equal ? 0 : 1;
  } finally {
    clearInterval(timer);
    await connection.close();
  }
}

main().catch((err) => {
  process.stderr.write(`rebuild: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

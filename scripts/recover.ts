/**
 * Disaster recovery: PostgreSQL was lost, S3 holds every event.   npm run recover [-- --json]
 * Point PG_* (or DATABASE_URL) at the new, empty database and stop the workers first (the API may
 * run, it answers from the read models as they fill). Creates the schemas, rebuilds the ledger
 * (what Kafka already carries marked delivered, found by its event-id headers) and the read models
 * from S3, relays what Kafka lacks. See src/app/recovery.ts; figures in CHAOS.md.
 */
import { loadConfig } from '../src/app/config';
import { connectInfrastructure } from '../src/app/composition';
import { recoverFromEventStore } from '../src/app/recovery';

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const config = loadConfig();
  const infra = await connectInfrastructure(config, { poolMax: 8 });
  try {
    const result = await recoverFromEventStore(infra, json ? undefined : (line) => process.stdout.write(`recover: ${line}\n`));
    if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else if (result.not_recorded.length || result.not_relayed.length)
      process.stdout.write(`recover: ${result.not_recorded.length} event(s) the ledger refused, ${result.not_relayed.length} held behind them (ids above in --json)\n`);
    process.stdout.write(json ? '' : 'recover: API keys lived in PostgreSQL only: create them again.\n');
    process.exitCode = result.not_recorded.length || result.not_relayed.length ? 1 : 0;
  } finally {
    await infra.close();
  }
}

main().catch((err) => {
  process.stderr.write(`recover: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

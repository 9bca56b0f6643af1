/**
 * `npm run ops -- keys create|list|revoke`: API key management from the operator's shell, through
 * the same ApiKeys the admin endpoints use. The key is printed once, by `create`, and never again.
 */
import { Option, type Command } from 'commander';
import { ApiKeys } from '../../../api/api-keys';
import { ROLES, type Role } from '../../../domain/access';
import { migrateApiKeys, PgApiKeyStore } from '../../../adapters/postgres/api-keys';
import type { OpsContext } from '../context';

async function keysOf(ctx: OpsContext): Promise<ApiKeys> {
  await migrateApiKeys(ctx.pool(), ctx.schema());
  return new ApiKeys({ store: new PgApiKeyStore(ctx.pool(), ctx.schema()), secret: ctx.config.API_KEY_SECRET, cacheMs: 0 });
}

export function register(program: Command, ctx: OpsContext): void {
  const keys = program.command('keys').description('API keys: create (shown once), list, revoke');

  keys
    .command('create')
    .description('create an API key and print it (only its hash is stored: copy it now)')
    .requiredOption('--name <name>', 'unique name; events record key:<name> as their actor')
    .addOption(new Option('--role <role>', 'reader: reads; writer: reads and commands; admin: everything').choices(ROLES).makeOptionMandatory())
    .option('--db <names>', 'comma-separated databases the key is limited to (default: all)')
    .action(async (o: { name: string; role: Role; db?: string }) => {
      const databases =
        o.db === undefined
          ? null
          : o.db
              .split(',')
              .map((d) => d.trim())
              .filter(Boolean);
      const { key, record } = await (await keysOf(ctx)).create({ name: o.name, role: o.role, databases, created_by: ctx.actor() });
      ctx.print(`${key}\n(key ${record.key_id}, ${record.role}, databases: ${record.databases?.join(',') ?? 'all'}; shown once)`, { ...record, key });
    });

  keys
    .command('list')
    .description('list API keys (never their secrets)')
    .action(async () => {
      const list = await (await keysOf(ctx)).list();
      const lines = list.map((k) => `${k.key_id}  ${k.name.padEnd(24)} ${k.role.padEnd(7)} ${(k.databases?.join(',') ?? 'all').padEnd(20)} ${k.revoked_at ? `revoked ${k.revoked_at}` : 'active'}`);
      ctx.print(lines.join('\n') || 'no keys', list);
    });

  keys
    .command('revoke <keyId>')
    .description('revoke an API key: every API process refuses it within API_KEY_CACHE_MS')
    .action(async (keyId: string) => {
      const record = await (await keysOf(ctx)).revoke(keyId);
      ctx.print(`revoked ${record.key_id} (${record.name}) at ${record.revoked_at}`, record);
    });
}

/**
 * The operator CLI: `npm run ops -- <group> <command>` (--help on each). Every command exits 0 on
 * success and 1 with a one-line reason on stderr otherwise; --json prints machine-readable output.
 */
import { Command, CommanderError } from 'commander';
import { createOpsContext, GlobalOptions, OpsContext } from './context';
import * as mode from './commands/mode';
import * as backfill from './commands/backfill';
import * as verify from './commands/verify';
import * as reverseSync from './commands/reverse-sync';
import * as rebuild from './commands/rebuild';
import * as reconcile from './commands/reconcile';
import * as deploy from './commands/deploy';
import * as keys from './commands/keys';

export function buildProgram(makeCtx: (globals: () => GlobalOptions) => OpsContext = createOpsContext): { program: Command; ctx: OpsContext } {
  const program = new Command('ops')
    .description('operate spice-oms: storage mode, migration, verification, rebuild, reconciliation, worker versions, API keys')
    .option('--json', 'print JSON instead of text')
    .option('--task-queue <name>', 'the command task queue (default TEMPORAL_TASK_QUEUE)')
    .option('--schema <name>', 'PostgreSQL schema of the ledger and legacy table', 'spice')
    .option('--actor <name>', 'who runs this (audit log); default cli:<os user>')
    .exitOverride()
    .showHelpAfterError();
  const ctx = makeCtx(() => program.opts<GlobalOptions>());
  for (const group of [mode, backfill, verify, reverseSync, rebuild, reconcile, deploy, keys]) group.register(program, ctx);
  return { program, ctx };
}

export async function main(argv: string[]): Promise<number> {
  const { program, ctx } = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    // commander has printed help or its own usage error already.
    if (err instanceof CommanderError) return err.exitCode;
    process.stderr.write(`ops: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}\n`);
    return 1;
  } finally {
    await ctx.close();
  }
}

if (require.main === module) {
  main(process.argv).then((code) => process.exit(code));
}

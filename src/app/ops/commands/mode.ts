/** `ops mode get|set`: the storage mode in force, its flags, the last migration runs and switches; a switch. */
import { Command, Option } from 'commander';
import type { OpsContext } from '../context';
import { STORAGE_MODES } from '../../../contracts/storage-mode';
import type { StorageMode } from '../../../contracts/storage-mode';

export function register(program: Command, ctx: OpsContext): void {
  const mode = program.command('mode').description('read or switch the storage mode (legacy, dual_write, s3_only)');

  mode
    .command('get')
    .description('the mode in force, whether either store may lead the other, the last backfill/verify/reverse sync and switches')
    .action(async () => {
      const view = await (await ctx.ops()).getMode();
      const s = view.state;
      const run = (r: typeof s.last_backfill) =>
        r ? `${r.completed_at} (${r.count}${r.differences !== undefined ? `, ${r.differences} differences, target ${r.target}` : ''}${r.clean_start ? '' : ', not clean'})` : 'never';
      const lines = [
        `mode: ${s.mode} (epoch ${s.epoch}, since ${s.changed_at} by ${s.changed_by}: ${s.reason})`,
        `new commands get it from ${s.effective_at}${s.previous_mode ? `; before that ${s.previous_mode}` : ''} (propagation bound ${view.propagation_ms} ms)`,
        `legacy table may lead S3: ${s.legacy_may_lead}; S3 may lead the legacy table: ${s.s3_may_lead}`,
        `last backfill: ${run(s.last_backfill)}`,
        `last verify: ${run(s.last_verify)}`,
        `last reverse sync: ${run(s.last_reverse_sync)}`,
        'recent switch requests:',
        ...view.audit.slice(0, 10).map((a) => `  ${a.at} ${a.actor} ${a.from_mode} -> ${a.to_mode} ${a.outcome}: ${a.reason}${a.unmet.length ? ` [${a.unmet.join('; ')}]` : ''}`),
      ];
      ctx.print(lines.join('\n'), view);
    });

  mode
    .command('set')
    .description('switch the storage mode; refused (exit 1) when its preconditions fail, unless --force (audited)')
    .addArgument(new Command().createArgument('<mode>', 'legacy | dual_write | s3_only').choices(STORAGE_MODES))
    .requiredOption('-r, --reason <text>', 'why (kept in the audit log)')
    .addOption(new Option('-f, --force', 'switch even though preconditions fail (audited as forced)'))
    .action(async (to: StorageMode, opts: { reason: string; force?: boolean }) => {
      const outcome = await (await ctx.ops()).setMode({ to, actor: ctx.actor(), reason: opts.reason, force: opts.force });
      ctx.print(
        `${outcome.outcome}: ${outcome.state.previous_mode} -> ${outcome.state.mode} (epoch ${outcome.state.epoch}); new commands get it from ${outcome.state.effective_at}${outcome.unmet.length ? `; overridden: ${outcome.unmet.join('; ')}` : ''}`,
        outcome,
      );
    });
}

/** `ops rebuild [schema]`: the read models replayed from the event store into a fresh schema, compared with the live ones. */
import { Command } from 'commander';
import type { OpsContext } from '../context';
import type { RebuildOutcome } from '../../../workflows/rebuild-read-models';

export function register(program: Command, ctx: OpsContext): void {
  program
    .command('rebuild')
    .description('replay the event store into a fresh read-model schema and compare it with the live one; exit 1 when they differ')
    .argument('[schema]', 'target schema (new)', `read_models_rebuild_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`)
    .action(async (target: string) => {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(target)) throw new Error(`invalid schema name '${target}'`);
      const client = await ctx.client();
      const handle = await client.workflow.start('rebuildReadModels', { taskQueue: ctx.taskQueue(), workflowId: `rebuild-${target}`, args: [{ target_schema: target }] });
      const timer = ctx.json()
        ? undefined
        : setInterval(() => {
            handle.query<{ events: number }>('rebuildProgress').then(
              (p) => process.stderr.write(`rebuild: ${p.events} events replayed\n`),
              () => undefined,
            );
          }, 2000);
      try {
        const o = (await handle.result()) as RebuildOutcome;
        ctx.print(
          [
            `${o.events} events replayed into ${o.target_schema}: ${o.equal ? 'equal to' : 'DIFFERS from'} the live read models; ${o.set_aside} set aside`,
            ...o.differences.map((d) => `  ${d.table}: ${d.missing_in_live} missing in live, ${d.missing_in_rebuild} missing in rebuild, ${d.different} different`),
          ].join('\n'),
          o,
        );
        if (!o.equal) throw new Error(`the rebuild in ${o.target_schema} differs from the live read models`);
      } finally {
        if (timer) clearInterval(timer);
      }
    });
}

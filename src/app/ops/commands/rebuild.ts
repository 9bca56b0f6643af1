/**
 * `ops rebuild [schema]`: the read models replayed from the event store into a fresh schema, compared with the live ones;
 * with --switch, blue/green: the rebuilt schema then replaces the live one while the API keeps answering.
 */
import { Command } from 'commander';
import type { OpsContext } from '../context';
import type { RebuildOutcome } from '../../../workflows/rebuild-read-models';

export function register(program: Command, ctx: OpsContext): void {
  program
    .command('rebuild')
    .description('replay the event store into a fresh read-model schema and compare it with the live one; exit 1 when they differ')
    .argument('[schema]', 'target schema (new)', `read_models_rebuild_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}`)
    .option('--switch [when]', 'blue/green: then make the rebuilt schema the live one, if_equal (default) or always (a projection changed on purpose)')
    .option('--grace <seconds>', 'with --switch: keep the old schema this long for readers in flight, then drop it', '600')
    .action(async (target: string, o: { switch?: true | string; grace: string }) => {
      // The old schema is kept as <target>_retired, which must fit PostgreSQL's 63 characters too.
      if (!/^[a-z_][a-z0-9_]{0,54}$/.test(target)) throw new Error(`invalid schema name '${target}' (lowercase letters, digits, _; at most 55 characters)`);
      const when = o.switch === true ? 'if_equal' : o.switch;
      if (when !== undefined && when !== 'if_equal' && when !== 'always') throw new Error(`--switch takes if_equal or always, not '${when}'`);
      const grace = Number(o.grace);
      if (!Number.isInteger(grace) || grace < 0 || grace > 86_400) throw new Error(`--grace takes whole seconds from 0 to 86400, not '${o.grace}'`);
      const client = await ctx.client();
      const args = [{ target_schema: target, ...(when ? { switch: { mode: when, grace_seconds: grace } } : {}) }];
      const handle = await client.workflow.start('rebuildReadModels', { taskQueue: ctx.taskQueue(), workflowId: `rebuild-${target}`, args });
      const timer = ctx.json()
        ? undefined
        : setInterval(() => {
            handle.query<{ events: number; phase?: string }>('rebuildProgress').then(
              (p) => process.stderr.write(`rebuild: ${p.events} events replayed${p.phase && p.phase !== 'replaying' ? `, ${p.phase.replace('_', ' ')}` : ''}\n`),
              () => undefined,
            );
          }, 2000);
      try {
        const o = (await handle.result()) as RebuildOutcome;
        ctx.print(
          [
            `${o.events} events replayed into ${o.target_schema}: ${o.equal ? 'equal to' : 'DIFFERS from'} the live read models; ${o.set_aside} set aside`,
            ...o.differences.map((d) => `  ${d.table}: ${d.missing_in_live} missing in live, ${d.missing_in_rebuild} missing in rebuild, ${d.different} different`),
            ...(when
              ? [
                  o.switched
                    ? `switched: the rebuilt models are live (${o.caught_up?.streams ?? 0} streams caught up with the live tail); the old ones were dropped after ${grace} s`
                    : 'not switched: the live read models stay',
                ]
              : []),
          ].join('\n'),
          o,
        );
        if (!o.equal && !o.switched) throw new Error(`the rebuild in ${o.target_schema} differs from the live read models`);
      } finally {
        if (timer) clearInterval(timer);
      }
    });
}

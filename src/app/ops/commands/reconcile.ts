/** `ops reconcile now`: one reconciliation run at once instead of waiting for the schedule. */
import { Command } from 'commander';
import type { OpsContext } from '../context';

export function register(program: Command, ctx: OpsContext): void {
  const reconcile = program.command('reconcile').description('the reconciliation of the event store, the ledger and Kafka');
  reconcile
    .command('now')
    .description('run one reconciliation now and print what it recorded, redelivered and set aside')
    .option('--grace <seconds>', 'leave events younger than this to their own workflows', (t) => Number(t), ctx.config.RECONCILE_GRACE_S)
    .action(async (opts: { grace: number }) => {
      const client = await ctx.client();
      const result = (await client.workflow.execute('reconcileDeliveries', {
        taskQueue: ctx.taskQueue(),
        workflowId: `reconcile-now-${Date.now()}`,
        args: [{ grace_seconds: opts.grace }],
      })) as Record<string, unknown>;
      ctx.print(
        `reconciled: ${Object.entries(result)
          .filter(([k]) => k !== 'checkpoint')
          .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
          .join(', ')}`,
        result,
      );
    });
}

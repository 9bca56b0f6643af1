/** `ops reverse-sync`: the events written in s3_only mode copied into the legacy table before a rollback. */
import { Command } from 'commander';
import type { OpsContext } from '../context';
import { describeProgress, positiveInt } from '../format';

export function register(program: Command, ctx: OpsContext): void {
  program
    .command('reverse-sync')
    .description('copy into the legacy table every event S3 holds of the streams written in s3_only mode (run verify --target legacy after)')
    .option('--rate <events/s>', 'copy at most this many ledger rows per second', positiveInt)
    .option('--chunk <rows>', 'ledger rows per chunk', positiveInt)
    .action(async (opts: { rate?: number; chunk?: number }) => {
      await (await ctx.ops()).start('reverse_sync', { events_per_second: opts.rate, chunk_size: opts.chunk });
      const p = await ctx.follow('reverse_sync');
      ctx.print(`reverse sync ${describeProgress(p)}`, p);
    });
}

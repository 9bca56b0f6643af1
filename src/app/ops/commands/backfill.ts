/** `ops backfill start|status|pause|resume`: the legacy table copied into S3 by the backfillToS3 workflow. */
import { Command } from 'commander';
import type { OpsContext } from '../context';
import { positiveInt, describeProgress } from '../format';

export function register(program: Command, ctx: OpsContext): void {
  const backfill = program.command('backfill').description('copy every legacy event into S3 (same id, version, content): resumable, throttled');

  backfill
    .command('start')
    .description('start the backfill (or join the running one) and follow it with a progress bar')
    .option('--rate <events/s>', 'copy at most this many events per second', positiveInt)
    .option('--chunk <events>', 'events per chunk (checkpoint interval)', positiveInt)
    .option('--concurrency <streams>', "streams copied at once (default: the worker's MIGRATION_CONCURRENCY)", positiveInt)
    .option('--detach', 'start and return at once')
    .action(async (opts: { rate?: number; chunk?: number; concurrency?: number; detach?: boolean }) => {
      const ops = await ctx.ops();
      const started = await ops.start('backfill', { events_per_second: opts.rate, chunk_size: opts.chunk, concurrency: opts.concurrency });
      if (opts.detach) return ctx.print(`backfill running: workflow ${started.workflow_id}`, started);
      const p = await ctx.follow('backfill');
      ctx.print(describeProgress(p), p);
    });

  backfill
    .command('status')
    .description('where the backfill is: events copied, rate, ETA')
    .action(async () => {
      const s = await (await ctx.ops()).status('backfill');
      if (!s) throw new Error('no backfill has run on this task queue');
      ctx.print(`${s.workflow_id} ${s.status}${s.progress ? `: ${describeProgress(s.progress)}` : ''}`, s);
    });

  for (const [name, what] of [
    ['pause', 'pause the backfill after its current chunk'],
    ['resume', 'resume a paused backfill'],
  ] as const) {
    backfill
      .command(name)
      .description(what)
      .action(async () => {
        const ops = await ctx.ops();
        await (name === 'pause' ? ops.pause('backfill') : ops.resume('backfill'));
        ctx.print(`backfill ${name}d`, { [name]: true });
      });
  }
}

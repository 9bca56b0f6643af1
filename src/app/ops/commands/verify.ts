/** `ops verify`: both event stores compared stream by stream; a JSON report, a summary, exit 1 on any difference. */
import fs from 'node:fs';
import { Command, Option } from 'commander';
import type { OpsContext } from '../context';
import { describeProgress, positiveInt } from '../format';

export function register(program: Command, ctx: OpsContext): void {
  program
    .command('verify')
    .description('compare the legacy table and S3 stream by stream (versions, event ids, content hashes); exit 1 when they differ')
    .addOption(new Option('--target <store>', 'which store must hold every event of the other').choices(['s3', 'legacy', 'both']).default('s3'))
    .option('--report <file>', 'where to write the JSON report', `verify-report-${new Date().toISOString().replace(/[:.]/g, '-')}.json`)
    .option('--chunk <streams>', 'streams per chunk', positiveInt)
    .option('--concurrency <streams>', "streams compared at once (default: the worker's MIGRATION_CONCURRENCY)", positiveInt)
    .action(async (opts: { target: 's3' | 'legacy' | 'both'; report: string; chunk?: number; concurrency?: number }) => {
      const ops = await ctx.ops();
      await ops.start('verify', { target: opts.target, chunk_size: opts.chunk, concurrency: opts.concurrency });
      const p = await ctx.follow('verify');
      const total = Object.values(p.differences ?? {}).reduce((a, b) => a + (b ?? 0), 0);
      const report = {
        target: opts.target,
        streams: p.streams,
        events: p.processed,
        differences: total,
        by_kind: p.differences ?? {},
        s3_ahead: p.s3_ahead ?? 0,
        legacy_ahead: p.legacy_ahead ?? 0,
        listed: p.listed ?? [],
        elapsed_s: p.elapsed_s,
      };
      fs.writeFileSync(opts.report, `${JSON.stringify(report, null, 2)}\n`);
      const kinds = Object.entries(report.by_kind)
        .map(([k, n]) => `${k}=${n}`)
        .join(', ');
      ctx.print(
        [
          `verify (target ${opts.target}): ${report.streams} streams, ${report.events} versions compared, ${total} differing version(s)${kinds ? ` (${kinds})` : ''}; ${describeProgress(p)}`,
          `S3 ahead of the table: ${report.s3_ahead} version(s); table ahead of S3: ${report.legacy_ahead} (not differences for this target)`,
          ...report.listed.slice(0, 20).map((d) => `  ${d.kind} ${d.aggregate_type}/${d.aggregate_id} from v${d.from_version} (${d.versions})`),
          `report: ${opts.report}`,
        ].join('\n'),
        report,
      );
      if (total > 0) throw new Error(`${total} differing version(s); see ${opts.report}`);
    });
}

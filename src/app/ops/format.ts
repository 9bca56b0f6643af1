/** Shared option parsers and summaries of the ops commands. */
import { InvalidArgumentError } from 'commander';
import type { MigrationProgress } from '../../workflows/migration';

export function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
  return n;
}

export function describeProgress(p: MigrationProgress): string {
  const rate = p.elapsed_s > 0 ? Math.round(p.processed / p.elapsed_s) : 0;
  const eta = p.total && rate > 0 && !p.done ? `, ETA ${Math.round((p.total - p.processed) / rate)} s` : '';
  return `${p.done ? 'done' : p.paused ? 'paused' : 'running'}: ${p.processed}${p.total ? `/${p.total}` : ''} events read, ${p.copied} copied, ${p.streams} streams, ${p.elapsed_s.toFixed(1)} s, ${rate} events/s${eta}`;
}

/**
 * Test-only crash points: the process SIGKILLs itself at a named step boundary, so tests can prove
 * that the pipeline converges after a worker dies exactly there. Off unless SPICE_CRASH_POINTS
 * names the point: a comma-separated list of `point@subject` (`point` alone matches any subject),
 * the subject being the aggregate id the step works on. With SPICE_CRASH_STATE_DIR set, each entry
 * fires once across every process sharing that directory (a marker file is created first), so the
 * worker started in the dead one's place completes the step instead of dying again.
 */
import fs from 'node:fs';
import path from 'node:path';

export const CRASH_POINTS = ['after-s3-commit', 'after-ledger-record', 'after-kafka-ack', 'inside-projection'] as const;
/** Inside the S3 store's group commit: every command's marker, body and date entry written, no version yet. */
export const GROUP_CRASH_POINT = 'between-group-marks-and-commits';
export type CrashPoint = (typeof CRASH_POINTS)[number] | typeof GROUP_CRASH_POINT;

/** The marker file an entry leaves when it fires (tests wait for it to know the crash happened). */
export function crashMarker(stateDir: string, point: CrashPoint, subject?: string): string {
  return path.join(stateDir, encodeURIComponent(subject === undefined ? point : `${point}@${subject}`));
}

export function crashPoint(point: CrashPoint, subjects: Iterable<string>): void {
  const spec = process.env.SPICE_CRASH_POINTS;
  if (!spec) return;
  const list = [...subjects];
  for (const entry of spec.split(',')) {
    const at = entry.indexOf('@');
    const name = at < 0 ? entry : entry.slice(0, at);
    const subject = at < 0 ? undefined : entry.slice(at + 1);
    if (name !== point || (subject !== undefined && !list.includes(subject))) continue;
    const dir = process.env.SPICE_CRASH_STATE_DIR;
    if (dir) {
      try {
        fs.writeFileSync(crashMarker(dir, point, subject), String(process.pid), { flag: 'wx' });
      } catch {
        continue; // fired already
      }
    }
    process.kill(process.pid, 'SIGKILL');
  }
}

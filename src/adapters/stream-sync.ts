/**
 * What every storage mode needs to keep the two event stores from diverging while modes change
 * under load: a lock per stream that every writer of every mode and process takes (commands of the
 * old mode finish while the new mode's start), and a copy of the events one store holds past the
 * other's end, with their ids, versions and content (a backfill or reverse sync of one stream).
 */
import type { EventEnvelope } from '../contracts/event-envelope';
import { claimedBy, CLAIM_PENDING, CLAIM_VOIDED, EventStore, StoreCorruptedError, StreamId } from '../ports/event-store';

export interface StreamLocker {
  run<T>(stream: StreamId, fn: () => Promise<T>): Promise<T>;
}

/** Copies `from`'s events past `to`'s end into `to`; returns how many it copied. Call it under the stream's lock. */
export async function copyTail(from: EventStore, to: EventStore, stream: StreamId): Promise<number> {
  const end = await to.currentVersion(stream);
  const tail = await from.readStream(stream, { fromVersion: Math.max(1, end) });
  if (end > 0) {
    // The shared version must hold the same event in both, or the stores have diverged.
    const [mine] = await to.readStream(stream, { fromVersion: end, toVersion: end });
    const theirs = tail[0];
    if (theirs === undefined) return 0;
    if (mine && mine.envelope.event_id !== theirs.envelope.event_id) {
      throw new StoreCorruptedError(`the event stores hold different events at ${stream.aggregate_type}/${stream.aggregate_id} v${end}: ${mine.envelope.event_id} and ${theirs.envelope.event_id}`);
    }
    tail.shift();
  }
  await appendCopies(
    to,
    stream,
    end,
    tail.map((e) => e.envelope),
  );
  return tail.length;
}

/** Appends stored events at their own versions: runs of events in one append, claim entries one by one with their decision. */
export async function appendCopies(to: EventStore, stream: StreamId, end: number, copies: EventEnvelope[]): Promise<void> {
  let run: EventEnvelope[] = [];
  let base = end;
  const flush = async () => {
    if (run.length === 0) return;
    await to.append(stream, base, run);
    base += run.length;
    run = [];
  };
  for (const e of copies) {
    const by = claimedBy(e);
    if (by === undefined) {
      run.push(e);
      continue;
    }
    await flush();
    await to.claim(e);
    if (e.event_type !== CLAIM_PENDING) {
      await to.decideClaims(by, e.event_type === CLAIM_VOIDED ? 'void' : 'commit', { request_hash: '', stream });
    }
    base = e.aggregate_version;
  }
  await flush();
}

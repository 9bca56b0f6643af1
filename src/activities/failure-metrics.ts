/**
 * spice_events_set_aside_total: events a reconciliation or rebuild run could not record, relay,
 * read or project and left behind so that the rest of the run could go on. Labels stay
 * low-cardinality: a fixed stage and a code from a short list, never an id.
 */
import type { Counter, Registry } from 'prom-client';
import { spiceMetrics } from '../contracts/metrics';
import type { EventEnvelope } from '../contracts/event-envelope';
import { ReadModelError } from '../ports/read-model-errors';
import { StreamsNotProjectedError } from '../ports/projector';

export type SetAsideStage = 'record' | 'relay' | 'read' | 'project';

export function setAsideCounter(registry?: Registry): Counter<'stage' | 'code'> {
  return spiceMetrics(registry).eventsSetAside;
}

/**
 * What one run set aside, by stage and code, for its result and the counter. An event counts once,
 * at the first stage that left it behind: a successor the relay holds back because its
 * predecessor was refused is one event set aside, not one per stage that met it.
 */
export class SetAsideTally {
  readonly counts = new Map<string, number>();
  private readonly seen = new Set<string>();

  constructor(private readonly counter: Counter<'stage' | 'code'> = setAsideCounter()) {}

  /** Counts the events not already set aside in this run; returns how many that was. */
  add(stage: SetAsideStage, code: string, eventIds: readonly string[]): number {
    const fresh = eventIds.filter((id) => !this.seen.has(id));
    if (fresh.length === 0) return 0;
    for (const id of fresh) this.seen.add(id);
    this.counter.inc({ stage, code }, fresh.length);
    const key = `${stage}:${code}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + fresh.length);
    return fresh.length;
  }

  has(eventId: string): boolean {
    return this.seen.has(eventId);
  }

  /** Every event set aside in this run. */
  get eventIds(): ReadonlySet<string> {
    return this.seen;
  }

  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

/** One event a projection call left behind: the first event of its stream that did not apply. */
export interface ProjectionSetAside {
  code: string;
  event_id: string;
  aggregate_type: string;
  aggregate_id: string;
  aggregate_version: number;
}

/**
 * The events a projection call left behind, or undefined when the error is not one of the data
 * (a service failure, which fails the run). The projector throws a single stream's own
 * ReadModelError as is; for a run that is one stream set aside like any other.
 */
export function projectionSetAside(err: unknown, events: readonly EventEnvelope[]): ProjectionSetAside[] | undefined {
  if (err instanceof StreamsNotProjectedError)
    return err.failures.map((f) => ({ code: f.code, event_id: f.event_id, aggregate_type: f.aggregate_type, aggregate_id: f.aggregate_id, aggregate_version: f.aggregate_version }));
  if (!(err instanceof ReadModelError) || (err.code !== 'INVALID_EVENT' && err.code !== 'PROJECTION_GAP') || events.length === 0) return undefined;
  const named = typeof err.details.event_id === 'string' ? events.find((e) => e.event_id === err.details.event_id) : undefined;
  const e = named ?? [...events].sort((a, b) => a.aggregate_version - b.aggregate_version)[0];
  return [{ code: err.code, event_id: String(e.event_id), aggregate_type: String(e.aggregate_type), aggregate_id: String(e.aggregate_id), aggregate_version: Number(e.aggregate_version) }];
}

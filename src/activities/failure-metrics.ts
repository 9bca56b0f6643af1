/**
 * spice_events_set_aside_total: events a reconciliation or rebuild run could not record, relay,
 * read or project and left behind so that the rest of the run could go on. Labels stay
 * low-cardinality: a fixed stage and a code from a short list, never an id.
 */
import { Counter, Registry, register as defaultRegistry } from 'prom-client';

export type SetAsideStage = 'record' | 'relay' | 'read' | 'project';

const METRIC = 'spice_events_set_aside_total';

export function setAsideCounter(registry: Registry = defaultRegistry): Counter<'stage' | 'code'> {
  // Several workers in one process (tests, the API's embedded worker) share the registry.
  const existing = registry.getSingleMetric(METRIC);
  if (existing) return existing as Counter<'stage' | 'code'>;
  return new Counter({
    name: METRIC,
    help: 'Events a reconciliation or rebuild run could not record, relay, read or project, set aside so the others went on (per run)',
    labelNames: ['stage', 'code'],
    registers: [registry],
  });
}

/** What one run set aside, by stage and code, for its result and the counter. */
export class SetAsideTally {
  readonly counts = new Map<string, number>();

  constructor(private readonly counter: Counter<'stage' | 'code'> = setAsideCounter()) {}

  add(stage: SetAsideStage, code: string, n = 1): void {
    if (n <= 0) return;
    this.counter.inc({ stage, code }, n);
    const key = `${stage}:${code}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
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

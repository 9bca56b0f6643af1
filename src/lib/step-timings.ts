/**
 * What each step of an activity did and how long it took, collected while it runs, for the
 * activity's result: Temporal records that result in the run's history, so the Web UI's run page
 * shows it (the fast path's single local activity would otherwise be one opaque box).
 *
 * Steps nest through AsyncLocalStorage: a step timed inside another (an adapter call inside
 * "deliver") is counted in it, whatever code sits between them. Outside `collectSteps` nothing is
 * kept, so timing a step costs nothing there.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';

export interface StepTiming {
  step: string;
  /** What it did, in a few words (e.g. "published 2 event(s)"). */
  did?: string;
  /** success unless it failed; conflict for a lost conditional write. */
  outcome: string;
  /** Start, in ms from the start of the activity. */
  at_ms: number;
  /** Duration in ms; for grouped calls, their sum. */
  ms: number;
  /** Calls grouped here (same step and outcome); 1 unless said. */
  calls?: number;
  /** The steps taken inside it, grouped by step and outcome in order of their first start. */
  steps?: StepTiming[];
}

interface Scope {
  origin: number;
  steps: StepTiming[];
}

const scope = new AsyncLocalStorage<Scope>();

const round = (ms: number) => Math.round(ms * 10) / 10;

export interface StepOptions<T> {
  did?: (result: T) => string | undefined;
  outcomeOf?: (err: unknown) => string;
}

/** Runs `fn` as one step of the steps being collected (if any), with the steps it takes inside. */
export async function timedStep<T>(name: string, fn: () => Promise<T>, options: StepOptions<T> = {}): Promise<T> {
  const parent = scope.getStore();
  if (parent === undefined) return fn();
  const start = performance.now();
  const inner: Scope = { origin: parent.origin, steps: [] };
  const finish = (outcome: string, did?: string) => {
    const steps = grouped(inner.steps);
    parent.steps.push({ step: name, ...(did ? { did } : {}), outcome, at_ms: round(start - parent.origin), ms: round(performance.now() - start), ...(steps.length ? { steps } : {}) });
  };
  try {
    const result = await scope.run(inner, fn);
    finish('success', options.did?.(result));
    return result;
  } catch (err) {
    finish(options.outcomeOf?.(err) ?? 'error');
    throw err;
  }
}

/** Runs `fn`, returning its result with the steps timed inside it. */
export async function collectSteps<T>(fn: () => Promise<T>): Promise<{ result: T; steps: StepTiming[] }> {
  const root: Scope = { origin: performance.now(), steps: [] };
  const result = await scope.run(root, fn);
  return { result, steps: grouped(root.steps) };
}

/**
 * Steps with a `did` stay apart; other calls of one kind and outcome (a bulk's thousands of reads)
 * become one entry with their count and summed time, so a result stays small whatever the command.
 */
function grouped(steps: StepTiming[]): StepTiming[] {
  const out: StepTiming[] = [];
  const byKind = new Map<string, StepTiming>();
  for (const s of [...steps].sort((a, b) => a.at_ms - b.at_ms)) {
    if (s.did !== undefined) {
      out.push(s);
      continue;
    }
    const key = `${s.step}\u0000${s.outcome}`;
    const seen = byKind.get(key);
    if (seen === undefined) {
      const first = { ...s };
      byKind.set(key, first);
      out.push(first);
    } else {
      seen.calls = (seen.calls ?? 1) + 1;
      seen.ms = round(seen.ms + s.ms);
      // What happened inside one call of many is not told apart from the others'.
      delete seen.steps;
    }
  }
  return out;
}

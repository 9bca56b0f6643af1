/** What the benchmark records per command and per scenario, and what a run accumulates for its report. */
import type { Pct } from './stats';

export interface Rec {
  scenario: string;
  kind: 'create' | 'update';
  instance: string;
  tSubmit: number;
  tDone?: number;
  tKafka?: number;
  tRm?: number;
  commandId?: string;
  eventId?: string;
  version?: number;
  error?: string;
}

export interface ScenarioResult {
  path: string;
  scenario: string;
  concurrency: number;
  hot: boolean;
  commands: number;
  throughput: number;
  errors: number;
  errorSamples: string[];
  submitToCompleted: Pct | null;
  submitToKafka: Pct | null;
  submitToReadModel: Pct | null;
  cpuSeconds: Record<string, number>;
  peakRssMb: Record<string, number>;
  /** The machine's 1-minute load average at the end of the window (the machine is shared: context for every figure). */
  load1?: number;
  profile?: Record<string, number>;
}

/** Everything a run reports, filled in by each path as it goes. */
export interface Report {
  results: ScenarioResult[];
  violations: string[];
  notes: string[];
  bulk?: Record<string, unknown>;
}

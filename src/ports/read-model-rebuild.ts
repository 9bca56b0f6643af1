/** Replaying the event store into a scratch copy of the read models, and comparing it with the live ones. */
import type { Projector } from './projector';

export interface ReadModelRebuild {
  /** Creates or migrates the read-model tables in `schema` (idempotent). */
  prepare(schema: string): Promise<void>;
  /** A projector that writes into `schema`. */
  projectorFor(schema: string): Projector;
  /** Row by row against the live read models. */
  compareWithLive(schema: string): Promise<ReadModelComparison>;
  /** Brings every stream of `schema` up to where the live models have it (from the event store); idempotent. */
  catchUpWithLive(schema: string): Promise<CatchUpResult>;
  /**
   * Blue/green: with the live models' projections held back, catches `schema` up one last time, compares, and (when equal or
   * not required to be) renames the live schema to `retiredSchema` and `schema` to the live name, in one transaction.
   */
  switchLive(schema: string, o: { retiredSchema: string; requireEqual: boolean }): Promise<SwitchResult>;
  /** Drops a schema that is not the live one. */
  drop(schema: string): Promise<void>;
}

export interface CatchUpResult {
  /** Streams that were behind the live models. */
  streams: number;
  events: number;
  /** Events left behind as the live models left them (a stream stops at such an event). */
  set_aside: number;
}

export interface SwitchResult extends CatchUpResult {
  switched: boolean;
  retired_schema: string;
  /** Taken with the live models held still, right before the switch; absent when a retried call finds the switch done. */
  comparison?: ReadModelComparison;
}

export type RowDifferenceKind = 'missing_in_a' | 'missing_in_b' | 'different';

export interface RowDifference {
  kind: RowDifferenceKind;
  /** The row's primary key values, in key column order. */
  key: unknown[];
  a: Record<string, unknown> | null;
  b: Record<string, unknown> | null;
}

export interface TableComparison {
  table: string;
  missing_in_a: number;
  missing_in_b: number;
  different: number;
  /** The first differences by key, up to the sample limit. */
  samples: RowDifference[];
}

export interface ReadModelComparison {
  equal: boolean;
  tables: TableComparison[];
}

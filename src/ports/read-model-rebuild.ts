/** Replaying the event store into a scratch copy of the read models, and comparing it with the live ones. */
import type { Projector } from './projector';

export interface ReadModelRebuild {
  /** Creates or migrates the read-model tables in `schema` (idempotent). */
  prepare(schema: string): Promise<void>;
  /** A projector that writes into `schema`. */
  projectorFor(schema: string): Projector;
  /** Row by row against the live read models. */
  compareWithLive(schema: string): Promise<ReadModelComparison>;
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

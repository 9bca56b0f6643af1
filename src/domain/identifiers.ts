/**
 * Identifier rules. They are deliberately narrow: ids end up in S3 keys, Kafka keys and URLs, so
 * anything that could escape a prefix ("/", "..", control characters) is refused at the door.
 */

export const DATABASE_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;
export const CLASS_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,127}$/;
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
/** Property names and predicates become JSON keys downstream; a leading "__" is refused so "__proto__" can never be one. */
export const MEMBER_NAME_PATTERN = /^(?!__)[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Batch ids are caller-generated (typically the command id). */
export const BATCH_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

/**
 * Stream versions are PostgreSQL integers in the ledger, the read models and the legacy event
 * table: a version a client sends (If-Match, /at/{version}) beyond this is refused at the door,
 * in every storage mode, instead of failing inside a query.
 */
export const MAX_STREAM_VERSION = 2_147_483_647;

export const AGGREGATE_TYPES = ['database', 'ontology_class', 'instance', 'instance_batch'] as const;
export type AggregateType = (typeof AGGREGATE_TYPES)[number];

export interface StreamRef {
  aggregate_type: AggregateType;
  aggregate_id: string;
}

export const databaseAggregateId = (name: string): string => name;
/** A database name cannot contain ":", so the first ":" always separates the database. */
export const classAggregateId = (db: string, classId: string): string => `${db}:${classId}`;
export const instanceAggregateId = (db: string, instanceId: string): string => `${db}:${instanceId}`;
export const batchAggregateId = (db: string, batchId: string): string => `${db}:${batchId}`;

/** Splits a class/instance/batch aggregate id into its database and local id. */
export function splitAggregateId(aggregateId: string): { db: string; id: string } {
  const at = aggregateId.indexOf(':');
  if (at < 0) return { db: aggregateId, id: '' };
  return { db: aggregateId.slice(0, at), id: aggregateId.slice(at + 1) };
}

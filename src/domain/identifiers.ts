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

/**
 * A database's life is its incarnation: the stream version of the DATABASE_CREATED event that
 * began it. Classes, instances and batches belong to one life, so their stream ids carry it: a
 * re-created database starts fresh streams and the streams of a deleted life stay unreachable.
 * The first life keeps the ids streams had before incarnations existed (`db:id`); later lives
 * are `db@N:id`. A database name cannot contain '@' or ':', so both always split back.
 */
export const FIRST_INCARNATION = 1;

/** The prefix of every stream of one life of the database. */
export function databaseScope(db: string, incarnation: number): string {
  if (!Number.isSafeInteger(incarnation) || incarnation < FIRST_INCARNATION) {
    throw new RangeError(`a database incarnation is a positive integer, got ${incarnation}`);
  }
  return incarnation === FIRST_INCARNATION ? db : `${db}@${incarnation}`;
}

/** A database name cannot contain ":", so the first ":" always separates the database scope. */
export const classAggregateId = (db: string, classId: string, incarnation: number): string => `${databaseScope(db, incarnation)}:${classId}`;
export const instanceAggregateId = (db: string, instanceId: string, incarnation: number): string => `${databaseScope(db, incarnation)}:${instanceId}`;
export const batchAggregateId = (db: string, batchId: string, incarnation: number): string => `${databaseScope(db, incarnation)}:${batchId}`;

/** Splits a class/instance/batch aggregate id into its database, incarnation and local id. */
export function splitAggregateId(aggregateId: string): { db: string; id: string; incarnation: number } {
  const at = aggregateId.indexOf(':');
  const scope = at < 0 ? aggregateId : aggregateId.slice(0, at);
  const id = at < 0 ? '' : aggregateId.slice(at + 1);
  const m = /^([^@]*)@([1-9][0-9]{0,14})$/.exec(scope);
  return m === null ? { db: scope, id, incarnation: FIRST_INCARNATION } : { db: m[1], id, incarnation: Number(m[2]) };
}

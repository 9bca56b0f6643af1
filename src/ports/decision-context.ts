/** What decide() needs to know beyond the command's own stream, read from the read models. */
import type { ClassCatalog, DatabaseState, TargetCatalog } from '../domain';

/** Where the data of an instance created by a bulk command lives: one event of the batch stream. */
export interface BulkOrigin {
  aggregate_type: 'instance_batch';
  aggregate_id: string;
  version: number;
}

export interface DecisionContext {
  /** The database as the read models have it: the life they hold (incarnation) and whether it is active. */
  databaseState(db: string): Promise<DatabaseState>;
  /** Live classes of the database by id. */
  classCatalog(db: string): Promise<ClassCatalog>;
  /** Known instances among `ids` (deleted ones flagged); unknown ids are left out. */
  instanceRefs(db: string, ids: readonly string[]): Promise<TargetCatalog>;
  /** Live instances whose class is exactly classId (subclasses not included). */
  countInstances(db: string, classId: string): Promise<number>;
  /** The batch event an instance was created by, or null when it was created on its own stream. */
  bulkOrigin(db: string, instanceId: string): Promise<BulkOrigin | null>;
}

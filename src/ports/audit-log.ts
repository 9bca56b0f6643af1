/**
 * The audit log: every change of a database (its own stream and every class, instance and batch
 * event of it), in the order the audit consumer applied them. Written by the reference consumer
 * (`npm run consumer -- audit`), read by GET /databases/{db}/audit.
 */
import type { Page, PageQuery } from './read-models';

export interface AuditEntry {
  /** Position in the log, increasing: the order the consumer applied the events in. */
  position: number;
  event_id: string;
  event_type: string;
  aggregate_type: string;
  aggregate_id: string;
  aggregate_version: number;
  actor: string;
  command_id: string;
  occurred_at: string;
  schema_version: number;
  payload: unknown;
  recorded_at: string;
}

export interface AuditLogQueries {
  /** Entries of a database, oldest first; a database never seen has an empty log. */
  list(db: string, page: PageQuery): Promise<Page<AuditEntry>>;
}

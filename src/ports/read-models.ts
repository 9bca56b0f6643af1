/** The read models as the API queries them (views of databases, classes, instances, edges). */
import type { Page } from '../domain/paging';

export type { Page } from '../domain/paging';

export interface DatabaseView {
  name: string;
  description: string | null;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface ClassView {
  db_name: string;
  id: string;
  label: string;
  description: string | null;
  parent_class: string | null;
  abstract: boolean;
  /** The class definition as stored (properties, relationships). */
  definition: Record<string, unknown>;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface InstanceView {
  db_name: string;
  id: string;
  class_id: string;
  properties: Record<string, unknown>;
  relationships: Record<string, string | string[]>;
  /** The instance stream's version (0 for instances created by a bulk command and not changed since). */
  version: number;
  created_at: string;
  updated_at: string;
}

export interface EdgeView {
  from_id: string;
  predicate: string;
  to_id: string;
}

/** Keyset paging: up to `limit` items after the cursor a previous page returned. */
export interface PageQuery {
  limit: number;
  cursor?: string;
}

export interface InstanceQuery extends PageQuery {
  class_id?: string;
  /** property equality filters, e.g. { name: 'Ada' } */
  filter?: Record<string, string | number | boolean>;
}

/** One page of an instance's edges; incoming edges are listed before outgoing ones across pages. */
export interface RelationshipPage {
  outgoing: EdgeView[];
  incoming: EdgeView[];
  next_cursor: string | null;
}

export interface ReadModelQueries {
  listDatabases(q: PageQuery): Promise<Page<DatabaseView>>;
  getDatabase(name: string): Promise<DatabaseView | null>;
  listClasses(db: string, q: PageQuery): Promise<Page<ClassView>>;
  getClass(db: string, classId: string): Promise<ClassView | null>;
  listInstances(db: string, q: InstanceQuery): Promise<Page<InstanceView>>;
  getInstance(db: string, id: string): Promise<InstanceView | null>;
  relationships(db: string, id: string, q: PageQuery): Promise<RelationshipPage>;
  /** Breadth-first over edges in both directions, bounded by depth (and a node limit). */
  traverse(db: string, id: string, depth: number, limit: number): Promise<{ nodes: InstanceView[]; edges: EdgeView[] }>;
  search(db: string, text: string, q: { class_id?: string; limit: number }): Promise<InstanceView[]>;
}

/**
 * The search engine behind GET /databases/{db}/search (src/adapters/opensearch), its projection
 * of the events, and the maintenance of its indices; the typed errors they fail with.
 */
import type { EventEnvelope } from '../contracts/event-envelope';
import type { InstanceView } from './read-models';
import type { CopyPage, GenerationPlan, IndexComparison } from '../contracts/search';

export type SearchIndexErrorCode =
  /** The event belongs to a database life whose creation search has not projected yet: a retry finds it. */
  | 'SEARCH_INDEX_BEHIND'
  /** OpenSearch refused documents for another reason than their version (details list them). */
  | 'SEARCH_NOT_PROJECTABLE';

export class SearchIndexError extends Error {
  constructor(
    readonly code: SearchIndexErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'SearchIndexError';
  }
}

export interface SearchApplyResult {
  /** Documents written or deleted. */
  written: number;
  /** Writes OpenSearch refused because the document already has this or a newer version. */
  stale: number;
  /** Events of a database life that is over: nothing written. */
  dropped: number;
}

/** An instance as the read models hold it: what reconciliation compares the search documents with. */
export interface InstanceState extends Pick<InstanceView, 'id' | 'class_id' | 'properties' | 'relationships' | 'version' | 'updated_at'> {
  db: string;
  incarnation: number;
  deleted: boolean;
}

export interface SearchRequest {
  q: string;
  class_id?: string;
  /** Property equality filters. */
  filter?: Record<string, string | number | boolean>;
  /** Properties to count values of (the class facet is always there). */
  facets?: string[];
  /** Weight per property name; replaces the default boosts for the names it gives. */
  boost?: Record<string, number>;
  limit: number;
  cursor?: string;
}

/** An instance as the index holds it (no created_at), with its relevance. */
export interface SearchHit extends Pick<InstanceView, 'db_name' | 'id' | 'class_id' | 'properties' | 'relationships' | 'version' | 'updated_at'> {
  score: number;
  /** Fragments with the matched words in <em>, per property. */
  highlights: Record<string, string[]>;
}

export interface FacetBucket {
  value: string | number | boolean;
  count: number;
}

export interface SearchResult {
  items: SearchHit[];
  /** Matches in all (not only this page). */
  total: number;
  facets: Record<string, FacetBucket[]>;
  next_cursor: string | null;
}

/** A query the engine cannot answer as asked (a cursor it did not issue, a facet on an opaque property). */
export class SearchQueryError extends Error {
  readonly code = 'INVALID_QUERY';
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'SearchQueryError';
  }
}

export interface SearchQueries {
  search(db: string, r: SearchRequest): Promise<SearchResult>;
}

export interface SearchProjector {
  apply(events: readonly EventEnvelope[]): Promise<SearchApplyResult>;
  reconcile(rows: readonly InstanceState[]): Promise<{ checked: number; reprojected: number }>;
  /** Writes the instance's document again as the row holds it, whatever version the index has (a forgotten subject's erasure). */
  replace(row: InstanceState): Promise<boolean>;
}

/** Moving a database's documents to a new index generation (reindex, rebuild), step by step. */
export interface SearchGenerationsPort {
  begin(db: string): Promise<GenerationPlan | null>;
  beginAll(): Promise<GenerationPlan[]>;
  count(index: string): Promise<number>;
  copyPage(plan: Pick<GenerationPlan, 'source' | 'target'>, after: string | null, size?: number): Promise<CopyPage>;
  compare(plan: GenerationPlan): Promise<IndexComparison>;
  switchTo(plan: GenerationPlan): Promise<void>;
  dropOlder(plan: GenerationPlan): Promise<string[]>;
  abandon(plan: GenerationPlan): Promise<void>;
}

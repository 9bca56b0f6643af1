/**
 * Names and lifecycle of spice-oms indices. One index per database life, read through one alias
 * per database:
 *
 *   alias  {prefix}.{db}                      what searches read
 *   index  {prefix}.{db}.i{incarnation}.g{n}  generation n of that life's documents
 *
 * Why an index per database rather than one index with a routing key: each database has its own
 * classes, so its own mapping; a class change that needs a new mapping rebuilds one database's
 * documents, and deleting a database is deleting its indices. A database name has no '.', so
 * `{prefix}.{db}.*` never reaches another database.
 *
 * Two small registry indices remember what the event streams said: `{prefix}.__databases` (the
 * current life of each database and whether it is active) and `{prefix}.__classes` (each class
 * definition per life), both written with the stream version as external version, so they never
 * move backwards either. The registry is what a fresh index's mapping and a late event's fate are
 * decided from.
 */
import type { Client } from '@opensearch-project/opensearch';
import type { ClassDefinition } from '../../domain/ontology-class';
import { indexMapping, indexSettings } from './mapping';

// The client types each request body closely; ours are built from plain objects.
type Mappings = NonNullable<NonNullable<Parameters<Client['indices']['create']>[0]['body']>['mappings']>;
type AliasActions = NonNullable<Parameters<Client['indices']['updateAliases']>[0]['body']>['actions'];

export interface IndexName {
  index: string;
  db: string;
  incarnation: number;
  generation: number;
}

/** An OpenSearch failure as its response body tells it: the error type decides what we do. */
export function errorType(err: unknown): string | undefined {
  const body = (err as { meta?: { body?: { error?: { type?: string } } } })?.meta?.body;
  return body?.error?.type;
}
export const statusOf = (err: unknown): number | undefined => (err as { meta?: { statusCode?: number } })?.meta?.statusCode;

export interface DatabaseLife {
  incarnation: number;
  active: boolean;
}

/** The external version of a document: the stream version within its database life, lives in order. */
export const LIFE_SHIFT = 2 ** 32;
export const externalVersion = (incarnation: number, streamVersion: number): number => incarnation * LIFE_SHIFT + streamVersion;

export class SearchIndices {
  readonly databases: string;
  readonly classes: string;
  readonly reindexRequests: string;
  private registryReady: Promise<void> | undefined;

  constructor(
    readonly client: Client,
    readonly prefix: string,
  ) {
    this.databases = `${prefix}.__databases`;
    this.classes = `${prefix}.__classes`;
    this.reindexRequests = `${prefix}.__reindex`;
  }

  alias(db: string): string {
    return `${this.prefix}.${db}`;
  }

  indexName(db: string, incarnation: number, generation: number): string {
    return `${this.prefix}.${db}.i${incarnation}.g${generation}`;
  }

  parse(index: string): IndexName | null {
    const m = /^(.+)\.i(\d+)\.g(\d+)$/.exec(index);
    if (m === null || !m[1].startsWith(`${this.prefix}.`)) return null;
    return { index, db: m[1].slice(this.prefix.length + 1), incarnation: Number(m[2]), generation: Number(m[3]) };
  }

  /** The registry indices; created once per process (creating an existing one is not an error). */
  ensureRegistry(): Promise<void> {
    this.registryReady ??= (async () => {
      const simple: Mappings = {
        dynamic: false,
        properties: { db: { type: 'keyword' }, incarnation: { type: 'long' }, deleted: { type: 'boolean' }, requested_at: { type: 'long' } },
      };
      for (const index of [this.databases, this.classes, this.reindexRequests]) {
        try {
          await this.client.indices.create({ index, body: { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: simple } });
        } catch (err) {
          if (errorType(err) !== 'resource_already_exists_exception') throw err;
        }
      }
    })().catch((err) => {
      this.registryReady = undefined;
      throw err;
    });
    return this.registryReady;
  }

  /** Every index of a database (all lives, all generations), oldest first. */
  async indicesOf(db: string, incarnation?: number): Promise<IndexName[]> {
    const pattern = incarnation === undefined ? `${this.prefix}.${db}.i*` : `${this.prefix}.${db}.i${incarnation}.g*`;
    const res = await this.client.indices.get({ index: pattern, allow_no_indices: true, ignore_unavailable: true, expand_wildcards: 'open' });
    return Object.keys(res.body ?? {})
      .map((i) => this.parse(i))
      .filter((n): n is IndexName => n !== null && n.db === db)
      .sort((a, b) => a.incarnation - b.incarnation || a.generation - b.generation);
  }

  /** The index the database's alias points at, or null. */
  async liveIndex(db: string): Promise<IndexName | null> {
    try {
      const res = await this.client.indices.getAlias({ name: this.alias(db) });
      const names = Object.keys(res.body ?? {})
        .map((i) => this.parse(i))
        .filter((n): n is IndexName => n !== null);
      return names.sort((a, b) => b.incarnation - a.incarnation || b.generation - a.generation)[0] ?? null;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async life(db: string): Promise<DatabaseLife | null> {
    await this.ensureRegistry();
    try {
      const res = await this.client.get({ index: this.databases, id: db });
      const s = res.body._source as { incarnation: number; active: boolean };
      return { incarnation: s.incarnation, active: s.active };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  /** Live class definitions of a database life, as the registry has them. */
  async classesOf(db: string, incarnation: number): Promise<ClassDefinition[]> {
    await this.ensureRegistry();
    const res = await this.client.search({
      index: this.classes,
      body: {
        size: 10_000,
        query: { bool: { filter: [{ term: { db } }, { term: { incarnation } }, { term: { deleted: false } }] } },
      },
    });
    return (res.body.hits.hits as Array<{ _source: { definition: ClassDefinition } }>).map((h) => h._source.definition);
  }

  /** Creates generation `generation` of a life with the mapping of its classes; an existing one is kept. */
  async createIndex(db: string, incarnation: number, generation: number): Promise<string> {
    const index = this.indexName(db, incarnation, generation);
    const classes = await this.classesOf(db, incarnation);
    try {
      await this.client.indices.create({ index, body: { settings: { index: indexSettings() }, mappings: indexMapping(classes) as Mappings } });
    } catch (err) {
      if (errorType(err) !== 'resource_already_exists_exception') throw err;
    }
    return index;
  }

  /** Points the database's alias at `index` and away from every other index, in one atomic step. */
  async pointAlias(db: string, index: string): Promise<void> {
    const alias = this.alias(db);
    const holders: string[] = [];
    try {
      const res = await this.client.indices.getAlias({ name: alias });
      holders.push(...Object.keys(res.body ?? {}));
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    const actions: AliasActions = holders.filter((h) => h !== index).map((h) => ({ remove: { index: h, alias } }));
    if (!holders.includes(index)) actions.push({ add: { index, alias } });
    if (actions.length) await this.client.indices.updateAliases({ body: { actions } });
  }

  /**
   * Records that a database needs a reindex (its mapping cannot take a class change in place).
   * Kept in the registry rather than started from the projection: the scheduled reconciliation
   * starts the reindex workflow, so a request survives any worker stopping right after it.
   */
  async requestReindex(db: string, incarnation: number): Promise<void> {
    await this.ensureRegistry();
    await this.client.index({ index: this.reindexRequests, id: db, body: { db, incarnation, requested_at: Date.now() }, refresh: true });
  }

  async pendingReindexes(): Promise<Array<{ db: string; requested_at: number }>> {
    await this.ensureRegistry();
    const res = await this.client.search({ index: this.reindexRequests, body: { size: 1000, query: { match_all: {} } } });
    return (res.body.hits.hits as Array<{ _source: { db: string; requested_at: number } }>).map((h) => ({ db: h._source.db, requested_at: h._source.requested_at }));
  }

  /** Clears a request the reindex that began after it has served; a newer request stays. */
  async clearReindex(db: string, startedAt: number): Promise<void> {
    await this.ensureRegistry();
    let doc;
    try {
      doc = (await this.client.get({ index: this.reindexRequests, id: db })).body;
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw err;
    }
    if ((doc._source as { requested_at: number }).requested_at > startedAt) return;
    try {
      // Only the request read above: one recorded meanwhile has another sequence number and stays.
      await this.client.delete({ index: this.reindexRequests, id: db, if_seq_no: doc._seq_no, if_primary_term: doc._primary_term, refresh: true });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    }
  }

  /** Every index of this prefix (tests drop theirs when they end). */
  async dropAll(): Promise<void> {
    await this.client.indices.delete({ index: `${this.prefix}.*`, allow_no_indices: true, ignore_unavailable: true, expand_wildcards: 'all' });
    this.registryReady = undefined;
  }

  async deleteIndices(names: string[]): Promise<void> {
    if (names.length === 0) return;
    await this.client.indices.delete({ index: names.join(','), ignore_unavailable: true });
  }
}

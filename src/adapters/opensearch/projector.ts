/**
 * Projects stored events into OpenSearch, alongside the PostgreSQL read models. Idempotent by
 * stream version through OpenSearch's external versioning: each document carries
 * externalVersion(life, stream version), and OpenSearch refuses a write whose version is not
 * above the stored one, so a retry, a reconciliation or a replay can never move a document
 * backwards, whatever order the events arrive in. Deletes are versioned writes too.
 *
 * Writes go to every index of the event's database life: during a reindex that is the live index
 * and the one being built, so the copy and the writes commute (the copy is versioned as well).
 * Instance writes are sent with the bulk API in chunks.
 */
import type { Client } from '@opensearch-project/opensearch';
import type { EventEnvelope } from '../../contracts/event-envelope';
import { SearchIndexError, type InstanceState, type SearchApplyResult, type SearchProjector } from '../../ports/search';
import type { EventPayloads, InstanceData } from '../../domain/events';
import { incarnationOfEvent } from '../../domain/events';
import { splitAggregateId } from '../../domain/identifiers';
import { FIELDS, classFields } from './mapping';
import { SearchIndices, errorType, externalVersion, type IndexName } from './indices';

export interface SearchProjectorOptions {
  /** Documents per bulk request. */
  chunkSize?: number;
  /** Make each write visible to search before apply() returns (tests; costs a refresh per call). */
  refresh?: boolean;
  /**
   * A rebuild: write only into these indices (new generations), and leave the databases' lives to
   * the live projection (database events change nothing).
   */
  onlyIndices?: ReadonlySet<string>;
}

interface DocOp {
  db: string;
  incarnation: number;
  id: string;
  version: number;
  /** null: delete */
  doc: Record<string, unknown> | null;
}

type BulkBody = Parameters<Client['bulk']>[0]['body'];
type MappingBody = Parameters<Client['indices']['putMapping']>[0]['body'];
type Envelope<T extends keyof EventPayloads> = EventEnvelope<EventPayloads[T]>;

export function instanceDocument(i: InstanceData, incarnation: number, streamVersion: number, e: { occurred_at: string }, classId?: string): Record<string, unknown> {
  return {
    [FIELDS.id]: i.id,
    [FIELDS.classId]: i.class_id ?? classId,
    [FIELDS.incarnation]: incarnation,
    [FIELDS.version]: streamVersion,
    [FIELDS.updatedAt]: e.occurred_at,
    properties: i.properties ?? {},
    relationships: i.relationships ?? {},
  };
}

export class OpenSearchProjector implements SearchProjector {
  readonly indices: SearchIndices;
  private readonly chunkSize: number;

  constructor(
    client: Client,
    prefix: string,
    private readonly options: SearchProjectorOptions = {},
  ) {
    this.indices = new SearchIndices(client, prefix);
    this.chunkSize = options.chunkSize ?? 1000;
  }

  private get client(): Client {
    return this.indices.client;
  }

  async apply(events: readonly EventEnvelope[]): Promise<SearchApplyResult> {
    const result: SearchApplyResult = { written: 0, stale: 0, dropped: 0 };
    if (events.length === 0) return result;
    await this.indices.ensureRegistry();
    let ops: DocOp[] = [];
    const flush = async () => {
      if (ops.length) await this.writeDocs(ops, result);
      ops = [];
    };
    for (const e of events) {
      const inc = incarnationOfEvent(e);
      switch (e.event_type) {
        case 'DATABASE_CREATED':
          if (this.options.onlyIndices) break;
          await flush();
          await this.databaseCreated(e as Envelope<'DATABASE_CREATED'>);
          break;
        case 'DATABASE_DELETED':
          if (this.options.onlyIndices) break;
          await flush();
          await this.databaseDeleted(e as Envelope<'DATABASE_DELETED'>);
          break;
        case 'ONTOLOGY_CLASS_CREATED':
        case 'ONTOLOGY_CLASS_UPDATED':
        case 'ONTOLOGY_CLASS_DELETED':
          await flush();
          await this.classChanged(e, result);
          break;
        case 'INSTANCE_CREATED':
        case 'INSTANCE_UPDATED': {
          const p = e.payload as EventPayloads['INSTANCE_CREATED'];
          // A stored event without an instance cannot be projected; the read-model projector sets it
          // aside and counts it, so here it is passed over instead of failing every event beside it.
          if (typeof p?.instance?.id !== 'string') break;
          ops.push({ db: p.db_name, incarnation: inc, id: p.instance.id, version: e.aggregate_version, doc: instanceDocument(p.instance, inc, e.aggregate_version, e) });
          break;
        }
        case 'INSTANCE_DELETED': {
          const p = e.payload as EventPayloads['INSTANCE_DELETED'];
          ops.push({ db: p.db_name, incarnation: inc, id: p.instance_id ?? splitAggregateId(e.aggregate_id).id, version: e.aggregate_version, doc: null });
          break;
        }
        case 'INSTANCES_BULK_CREATED': {
          const p = e.payload as EventPayloads['INSTANCES_BULK_CREATED'];
          if (!Array.isArray(p?.instances)) break;
          // Claimed instances were created at their claim's version of their own stream; batches
          // stored before claims created version 0 (the stream's first own event is version 1).
          p.instances.forEach((i, n) => {
            const version = p.claims?.[n]?.version ?? 0;
            ops.push({ db: p.db_name, incarnation: inc, id: i.id, version, doc: instanceDocument(i, inc, version, e, p.class_id) });
          });
          break;
        }
        default:
          // Events of other types (or of a newer code version) have nothing to search.
          break;
      }
    }
    await flush();
    return result;
  }

  /**
   * The indices an event of this database life is written to; [] when the life is over (its
   * documents are gone for good). Throws SEARCH_INDEX_BEHIND when the life has not begun in
   * search yet.
   */
  private async targets(db: string, incarnation: number): Promise<IndexName[]> {
    const only = this.options.onlyIndices;
    if (only) return (await this.indices.indicesOf(db, incarnation)).filter((n) => only.has(n.index));
    const found = await this.indices.indicesOf(db, incarnation);
    if (found.length) return found;
    const life = await this.indices.life(db);
    if (life !== null && (life.incarnation > incarnation || (life.incarnation === incarnation && !life.active))) return [];
    if (life !== null && life.incarnation === incarnation && life.active) {
      // The life is active but its index is gone (deleted by hand): start it again; reconciliation
      // or a rebuild fills it.
      await this.indices.createIndex(db, incarnation, 1);
      await this.indices.pointAlias(db, this.indices.indexName(db, incarnation, 1));
      return this.indices.indicesOf(db, incarnation);
    }
    throw new SearchIndexError('SEARCH_INDEX_BEHIND', `search has not projected life ${incarnation} of database '${db}' yet`, { db, incarnation });
  }

  private async writeDocs(ops: DocOp[], result: SearchApplyResult): Promise<void> {
    const groups = new Map<string, DocOp[]>();
    for (const op of ops) {
      const key = `${op.db}\u0000${op.incarnation}`;
      groups.set(key, [...(groups.get(key) ?? []), op]);
    }
    for (const group of groups.values()) {
      for (let i = 0; i < group.length; i += this.chunkSize) await this.writeChunk(group.slice(i, i + this.chunkSize), result);
    }
  }

  private async writeChunk(ops: DocOp[], result: SearchApplyResult): Promise<void> {
    // An index that vanished under the write (a reindex dropped the old generation, the database
    // was deleted) is looked up again once: the writes belong to whatever holds the life now.
    for (let attempt = 0; ; attempt++) {
      const targets = await this.targets(ops[0].db, ops[0].incarnation);
      if (targets.length === 0) {
        result.dropped += ops.length;
        return;
      }
      const gone = await this.bulk(ops, targets, result);
      if (!gone) return;
      if (attempt > 0) {
        result.dropped += ops.length;
        return;
      }
    }
  }

  /** True when an index was gone (nothing counted then: the caller looks the targets up again). */
  private async bulk(ops: DocOp[], targets: IndexName[], result: SearchApplyResult): Promise<boolean> {
    const body: BulkBody = [];
    for (const t of targets) {
      for (const op of ops) {
        const meta = { _index: t.index, _id: op.id, version: externalVersion(op.incarnation, op.version), version_type: 'external' };
        if (op.doc === null) body.push({ delete: meta });
        else body.push({ index: meta }, op.doc);
      }
    }
    const res = await this.client.bulk({ body, ...(this.options.refresh ? { refresh: true } : {}) });
    if (!res.body.errors) {
      result.written += ops.length;
      return false;
    }
    const items = (res.body.items as Array<Record<string, { _id: string; _index: string; status: number; error?: { type: string } }>>).map((i) => Object.values(i)[0]);
    if (items.some((r) => r.error?.type === 'index_not_found_exception')) return true;
    const refused: Array<{ id: string; index: string; type: string }> = [];
    // Counted on the first target only: the others receive the same documents.
    items.forEach((r, n) => {
      const counted = n < ops.length;
      // 409: this or a newer version is already there. A versioned delete of a missing document
      // answers 404 without an error and still records its version, which is all a delete needs.
      if (r.status === 409) result.stale += counted ? 1 : 0;
      else if (r.error === undefined) result.written += counted ? 1 : 0;
      else refused.push({ id: r._id, index: r._index, type: r.error.type });
    });
    if (refused.length) {
      throw new SearchIndexError(
        'SEARCH_NOT_PROJECTABLE',
        `OpenSearch refused ${refused.length} document(s): ${refused
          .slice(0, 3)
          .map((r) => `${r.id} (${r.type})`)
          .join(', ')}`,
        { refused: refused.slice(0, 20) },
      );
    }
    return false;
  }

  private async databaseCreated(e: Envelope<'DATABASE_CREATED'>): Promise<void> {
    const db = e.payload.name;
    const incarnation = e.aggregate_version;
    const registered = await this.register(this.indices.databases, db, incarnation, { db, incarnation, active: true });
    if (!registered) {
      const life = await this.indices.life(db);
      if (life !== null && (life.incarnation !== incarnation || !life.active)) return;
    }
    if ((await this.indices.indicesOf(db, incarnation)).length) return;
    const index = await this.indices.createIndex(db, incarnation, 1);
    await this.indices.pointAlias(db, index);
  }

  private async databaseDeleted(e: Envelope<'DATABASE_DELETED'>): Promise<void> {
    const db = e.payload.name;
    // The database stream alternates creation and deletion: the life that ends began one version earlier.
    await this.register(this.indices.databases, db, e.aggregate_version, { db, incarnation: e.aggregate_version - 1, active: false });
    const dead = (await this.indices.indicesOf(db)).filter((n) => n.incarnation < e.aggregate_version);
    await this.indices.deleteIndices(dead.map((n) => n.index));
  }

  private async classChanged(e: EventEnvelope, result: SearchApplyResult): Promise<void> {
    const p = e.payload as { db_name: string; definition?: EventPayloads['ONTOLOGY_CLASS_CREATED']['definition']; class_id?: string };
    const incarnation = incarnationOfEvent(e);
    const classId = p.definition?.id ?? p.class_id ?? splitAggregateId(e.aggregate_id).id;
    const deleted = e.event_type === 'ONTOLOGY_CLASS_DELETED';
    await this.register(
      this.indices.classes,
      `${p.db_name}:${incarnation}:${classId}`,
      e.aggregate_version,
      {
        db: p.db_name,
        incarnation,
        class_id: classId,
        deleted,
        definition: deleted ? null : p.definition,
      },
      true,
    );
    if (deleted || p.definition === undefined) return;
    const targets = await this.targets(p.db_name, incarnation);
    if (targets.length === 0) {
      result.dropped++;
      return;
    }
    // The fields of every live class: two classes sharing a property name share its field.
    const fields = classFields(await this.indices.classesOf(p.db_name, incarnation));
    for (const t of targets) {
      try {
        await this.client.indices.putMapping({
          index: t.index,
          body: { properties: { properties: { properties: fields.properties }, relationships: { properties: fields.relationships } } } as MappingBody,
        });
      } catch (err) {
        if (errorType(err) !== 'illegal_argument_exception' && errorType(err) !== 'mapper_parsing_exception') throw err;
        // A field cannot change its type in place: the database's documents move to a new index
        // with the new mapping. Until then the live index keeps answering with the old one.
        await this.indices.requestReindex(p.db_name, incarnation);
        return;
      }
    }
  }

  /**
   * Reconciliation: the instances as the read models hold them (state and stream version) against
   * the search documents. A document missing or behind its stream version is written again from
   * that state; one the read models hold as deleted is deleted. Versioned like every write, so a
   * projection racing this never loses its newer version.
   */
  async reconcile(rows: readonly InstanceState[]): Promise<{ checked: number; reprojected: number }> {
    let reprojected = 0;
    const byDb = new Map<string, InstanceState[]>();
    for (const r of rows) byDb.set(`${r.db}\u0000${r.incarnation}`, [...(byDb.get(`${r.db}\u0000${r.incarnation}`) ?? []), r]);
    for (const group of byDb.values()) {
      const { db, incarnation } = group[0];
      const live = await this.indices.liveIndex(db);
      if (live === null || live.incarnation !== incarnation) continue;
      const res = await this.client.mget({ index: live.index, body: { ids: group.map((r) => r.id) }, _source: false });
      const found = new Map<string, number>();
      for (const d of res.body.docs as Array<{ _id: string; found?: boolean; _version?: number }>) if (d.found) found.set(d._id, d._version ?? 0);
      const ops: DocOp[] = [];
      for (const r of group) {
        const want = externalVersion(incarnation, r.version);
        const have = found.get(r.id);
        const behind = r.deleted ? have !== undefined && have < want : have === undefined || have < want;
        if (!behind) continue;
        ops.push({
          db,
          incarnation,
          id: r.id,
          version: r.version,
          doc: r.deleted ? null : instanceDocument({ id: r.id, class_id: r.class_id, properties: r.properties, relationships: r.relationships }, incarnation, r.version, { occurred_at: r.updated_at }),
        });
      }
      if (ops.length) {
        const result: SearchApplyResult = { written: 0, stale: 0, dropped: 0 };
        await this.writeDocs(ops, result);
        reprojected += result.written;
      }
    }
    return { checked: rows.length, reprojected };
  }

  async replace(row: InstanceState): Promise<boolean> {
    const live = await this.indices.liveIndex(row.db);
    if (live === null || live.incarnation !== row.incarnation) return false;
    // Same stream version, other content: the external version would refuse it, so the old document goes first.
    await this.client.delete({ index: live.index, id: row.id, refresh: true }).catch((err: unknown) => {
      if ((err as { meta?: { statusCode?: number } }).meta?.statusCode !== 404) throw err;
    });
    return (await this.reconcile([row])).reprojected > 0;
  }

  /** A versioned registry write; false when the registry already holds this or a newer version. */
  private async register(index: string, id: string, version: number, doc: Record<string, unknown>, refresh = false): Promise<boolean> {
    try {
      await this.client.index({ index, id, version, version_type: 'external', body: doc, ...(refresh ? { refresh: true } : {}) });
      return true;
    } catch (err) {
      if (errorType(err) === 'version_conflict_engine_exception') return false;
      throw err;
    }
  }
}

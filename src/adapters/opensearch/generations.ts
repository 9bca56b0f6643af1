/**
 * Moving a database's documents to a new index generation with no window where search answers
 * nothing: the new generation is created next to the live one (the projector then writes every
 * event to both), filled (by a versioned copy of the live index, or by a replay of the event
 * store), compared, and the alias is switched to it in one atomic step. Versioned writes make the
 * fill and the live projection commute: whichever comes first, the newest version stays.
 */
import type { Client } from '@opensearch-project/opensearch';
import { FIELDS } from './mapping';
import { SearchIndices, type IndexName } from './indices';
import type { CopyPage, GenerationPlan, IndexComparison } from '../../contracts/search';
import type { SearchGenerationsPort } from '../../ports/search';

type BulkBody = Parameters<Client['bulk']>[0]['body'];
interface VersionedHit {
  _id: string;
  _version: number;
  _source?: Record<string, unknown>;
  sort: string[];
}

export class SearchGenerations implements SearchGenerationsPort {
  readonly indices: SearchIndices;

  constructor(client: Client, prefix: string) {
    this.indices = new SearchIndices(client, prefix);
  }

  private get client(): Client {
    return this.indices.client;
  }

  /**
   * The next generation of the database's live index, created with the mapping of its classes as
   * the registry has them now; one created by an earlier attempt is taken over. Null when the
   * database has no live index.
   */
  async begin(db: string): Promise<GenerationPlan | null> {
    const live = await this.indices.liveIndex(db);
    if (live === null) return null;
    const newer = (await this.indices.indicesOf(db, live.incarnation)).filter((n) => n.generation > live.generation);
    const target = newer[newer.length - 1]?.index ?? (await this.indices.createIndex(db, live.incarnation, live.generation + 1));
    return { db, incarnation: live.incarnation, source: live.index, target };
  }

  /** begin() for every database with a live index (a full rebuild). */
  async beginAll(): Promise<GenerationPlan[]> {
    const res = await this.client.indices.getAlias({ index: `${this.indices.prefix}.*` });
    const dbs = new Set<string>();
    for (const [index, v] of Object.entries(res.body ?? {})) {
      const n = this.indices.parse(index);
      if (n !== null && Object.keys((v as { aliases?: object }).aliases ?? {}).length) dbs.add(n.db);
    }
    const plans: GenerationPlan[] = [];
    for (const db of [...dbs].sort()) {
      const p = await this.begin(db);
      if (p !== null) plans.push(p);
    }
    return plans;
  }

  async count(index: string): Promise<number> {
    await this.client.indices.refresh({ index });
    return (await this.client.count({ index })).body.count;
  }

  private async page(index: string, after: string | null, size: number, withSource: boolean): Promise<VersionedHit[]> {
    const res = await this.client.search({
      index,
      body: {
        size,
        version: true,
        _source: withSource,
        query: { match_all: {} },
        sort: [{ [FIELDS.id]: 'asc' }],
        ...(after !== null ? { search_after: [after] } : {}),
      } as never,
    });
    return res.body.hits.hits as unknown as VersionedHit[];
  }

  /** Copies one page of the source into the target, each document at its own version. */
  async copyPage(plan: Pick<GenerationPlan, 'source' | 'target'>, after: string | null, size = 1000): Promise<CopyPage> {
    const hits = await this.page(plan.source, after, size, true);
    if (hits.length === 0) return { copied: 0, stale: 0, next: null };
    const body: BulkBody = [];
    for (const h of hits) body.push({ index: { _index: plan.target, _id: h._id, version: h._version, version_type: 'external' } }, h._source!);
    const res = await this.client.bulk({ body });
    let copied = 0;
    let stale = 0;
    const refused: string[] = [];
    for (const item of res.body.items as Array<Record<string, { _id: string; status: number; error?: { type: string } }>>) {
      const r = Object.values(item)[0];
      if (r.status === 409) stale++;
      else if (r.error === undefined) copied++;
      else refused.push(`${r._id} (${r.error.type})`);
    }
    if (refused.length) throw new Error(`copy into ${plan.target} refused ${refused.length} document(s): ${refused.slice(0, 3).join(', ')}`);
    return { copied, stale, next: hits.length < size ? null : hits[hits.length - 1].sort[0] };
  }

  /**
   * Points the alias at the target: readers move from one complete index to the other at once. The
   * copy's last pages are made searchable first: without the refresh, searches in the next second
   * (the refresh interval) would see only part of the target.
   */
  async switchTo(plan: GenerationPlan): Promise<void> {
    await this.client.indices.refresh({ index: plan.target });
    await this.indices.pointAlias(plan.db, plan.target);
  }

  /** Drops every generation of the life older than the target, once the alias has moved. */
  async dropOlder(plan: GenerationPlan): Promise<string[]> {
    const live = await this.indices.liveIndex(plan.db);
    if (live?.index !== plan.target) return [];
    const target = this.indices.parse(plan.target)!;
    const old = (await this.indices.indicesOf(plan.db, plan.incarnation)).filter((n: IndexName) => n.generation < target.generation).map((n) => n.index);
    await this.indices.deleteIndices(old);
    return old;
  }

  /** Drops the target of an abandoned plan (the live index stays). */
  async abandon(plan: GenerationPlan): Promise<void> {
    const live = await this.indices.liveIndex(plan.db);
    if (live?.index !== plan.target) await this.indices.deleteIndices([plan.target]);
  }

  /** Document ids and versions of two indices, merged in id order: what one has and the other lacks or holds at another version. */
  async compare(plan: GenerationPlan, pageSize = 5000): Promise<IndexComparison> {
    await this.client.indices.refresh({ index: `${plan.source},${plan.target}` });
    const out: IndexComparison = {
      db: plan.db,
      live: plan.source,
      rebuilt: plan.target,
      live_count: 0,
      rebuilt_count: 0,
      missing_in_live: 0,
      missing_in_rebuilt: 0,
      different_versions: 0,
      equal: false,
    };
    const cursor = (index: string) => {
      let buf: VersionedHit[] = [];
      let after: string | null = null;
      let done = false;
      return async (): Promise<VersionedHit | null> => {
        if (buf.length === 0 && !done) {
          buf = await this.page(index, after, pageSize, false);
          if (buf.length < pageSize) done = true;
          if (buf.length) after = buf[buf.length - 1].sort[0];
        }
        return buf.shift() ?? null;
      };
    };
    const nextLive = cursor(plan.source);
    const nextRebuilt = cursor(plan.target);
    let a = await nextLive();
    let b = await nextRebuilt();
    while (a !== null || b !== null) {
      if (b === null || (a !== null && a.sort[0] < b.sort[0])) {
        out.live_count++;
        out.missing_in_rebuilt++;
        a = await nextLive();
      } else if (a === null || b.sort[0] < a.sort[0]) {
        out.rebuilt_count++;
        out.missing_in_live++;
        b = await nextRebuilt();
      } else {
        out.live_count++;
        out.rebuilt_count++;
        if (a._version !== b._version) out.different_versions++;
        a = await nextLive();
        b = await nextRebuilt();
      }
    }
    out.equal = out.missing_in_live + out.missing_in_rebuilt + out.different_versions === 0;
    return out;
  }
}

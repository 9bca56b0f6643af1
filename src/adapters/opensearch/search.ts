/**
 * Search over a database's alias: relevance ranking with typo tolerance, label and name fields
 * boosted, prefix matches through the edge-n-gram sub-fields, filters by class and property
 * values, facets, highlights, and search_after cursors.
 */
import type { Client } from '@opensearch-project/opensearch';
import { FIELDS } from './mapping';
import { SearchIndices, statusOf } from './indices';
import { SearchQueryError, type FacetBucket, type SearchHit, type SearchQueries, type SearchRequest, type SearchResult } from '../../ports/search';

/** Label and name fields first: an instance whose name matches ranks above one that mentions it. */
export const DEFAULT_BOOSTS: Readonly<Record<string, number>> = { name: 4, label: 4, title: 3 };
const FACET_SIZE = 50;

interface FieldInfo {
  type?: string;
  enabled?: boolean;
}

function encodeCursor(sort: unknown[]): string {
  return Buffer.from(JSON.stringify(sort)).toString('base64url');
}

function decodeCursor(cursor: string): unknown[] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'string') return v;
  } catch {
    /* refused below */
  }
  throw new SearchQueryError('cursor is not one this search issued', { parameter: 'cursor' });
}

export class OpenSearchQueries implements SearchQueries {
  private readonly indices: SearchIndices;

  constructor(client: Client, prefix: string) {
    this.indices = new SearchIndices(client, prefix);
  }

  private get client(): Client {
    return this.indices.client;
  }

  /** The property fields of the live index, to pick the exact-match field of each filter and facet. */
  private async propertyFields(alias: string): Promise<Record<string, FieldInfo>> {
    const res = await this.client.indices.getMapping({ index: alias });
    const first = Object.values(res.body ?? {})[0] as { mappings?: { properties?: { properties?: { properties?: Record<string, FieldInfo> } } } } | undefined;
    return first?.mappings?.properties?.properties?.properties ?? {};
  }

  async search(db: string, r: SearchRequest): Promise<SearchResult> {
    const alias = this.indices.alias(db);
    let fields: Record<string, FieldInfo>;
    try {
      fields = r.filter || r.facets?.length ? await this.propertyFields(alias) : {};
    } catch (err) {
      if (statusOf(err) === 404) return { items: [], total: 0, facets: {}, next_cursor: null };
      throw err;
    }
    const exact = (name: string, purpose: string): string => {
      const f = fields[name];
      if (f !== undefined && (f.enabled === false || f.type === 'object')) {
        throw new SearchQueryError(`property '${name}' holds JSON values, which cannot be used as a ${purpose}`, { parameter: name });
      }
      return f?.type === 'text' ? `properties.${name}.keyword` : `properties.${name}`;
    };

    const boosts = { ...DEFAULT_BOOSTS, ...(r.boost ?? {}) };
    const boosted = Object.entries(boosts).filter(([, w]) => w > 0);
    const textFields = [...boosted.map(([f, w]) => `properties.${f}^${w}`), `${FIELDS.allText}`];
    const prefixFields = [...boosted.map(([f, w]) => `properties.${f}.prefix^${w}`), `${FIELDS.allText}.prefix`];
    const filter: unknown[] = [];
    if (r.class_id !== undefined) filter.push({ term: { [FIELDS.classId]: r.class_id } });
    for (const [name, value] of Object.entries(r.filter ?? {})) filter.push({ term: { [exact(name, 'filter')]: value } });
    const aggs: Record<string, unknown> = { [FIELDS.classId]: { terms: { field: FIELDS.classId, size: FACET_SIZE } } };
    for (const name of r.facets ?? []) aggs[`p:${name}`] = { terms: { field: exact(name, 'facet'), size: FACET_SIZE } };

    const body: Record<string, unknown> = {
      size: r.limit,
      track_total_hits: true,
      query: {
        bool: {
          must: [
            {
              bool: {
                minimum_should_match: 1,
                should: [
                  // Whole words, each allowed a few typos ("Lovelce" finds "Lovelace").
                  { multi_match: { query: r.q, fields: textFields, fuzziness: 'AUTO', prefix_length: 1, operator: 'and', lenient: true } },
                  // Words still being typed: "lov" finds "Lovelace".
                  { multi_match: { query: r.q, fields: prefixFields, operator: 'and', lenient: true, boost: 0.5 } },
                  // The exact phrase ranks first.
                  { multi_match: { query: r.q, fields: textFields, type: 'phrase', lenient: true, boost: 2 } },
                ],
              },
            },
          ],
          filter,
        },
      },
      aggs,
      highlight: { fields: { 'properties.*': {} }, require_field_match: false, number_of_fragments: 3, fragment_size: 150 },
      // The id breaks ties of equal score, so every page boundary is exact.
      sort: [{ _score: 'desc' }, { [FIELDS.id]: 'asc' }],
      ...(r.cursor !== undefined ? { search_after: decodeCursor(r.cursor) } : {}),
    };
    let res;
    try {
      res = await this.client.search({ index: alias, body: body as never });
    } catch (err) {
      if (statusOf(err) === 404) return { items: [], total: 0, facets: {}, next_cursor: null };
      throw err;
    }
    type Hit = { _score: number; _source: Record<string, unknown>; highlight?: Record<string, string[]>; sort: unknown[] };
    const hits = res.body.hits.hits as unknown as Hit[];
    const items = hits.map((h): SearchHit => {
      const s = h._source;
      const highlights: Record<string, string[]> = {};
      for (const [field, fragments] of Object.entries(h.highlight ?? {})) {
        const name = field.replace(/^properties\./, '').replace(/\.(keyword|prefix)$/, '');
        highlights[name] = [...(highlights[name] ?? []), ...fragments];
      }
      return {
        db_name: db,
        id: s[FIELDS.id] as string,
        class_id: s[FIELDS.classId] as string,
        properties: (s.properties ?? {}) as Record<string, unknown>,
        relationships: (s.relationships ?? {}) as Record<string, string | string[]>,
        version: s[FIELDS.version] as number,
        updated_at: s[FIELDS.updatedAt] as string,
        score: h._score,
        highlights,
      };
    });
    const total = res.body.hits.total;
    const buckets = (name: string): FacetBucket[] =>
      ((res.body.aggregations?.[name] as { buckets?: Array<{ key: string | number; key_as_string?: string; doc_count: number }> } | undefined)?.buckets ?? []).map((b) => ({
        value: fields[name.slice(2)]?.type === 'boolean' ? b.key === 1 : (b.key_as_string ?? b.key),
        count: b.doc_count,
      }));
    const facets: Record<string, FacetBucket[]> = { class_id: buckets(FIELDS.classId) };
    for (const name of r.facets ?? []) facets[name] = buckets(`p:${name}`);
    const last = hits[hits.length - 1];
    return {
      items,
      total: typeof total === 'number' ? total : (total?.value ?? 0),
      facets,
      next_cursor: hits.length === r.limit && last !== undefined ? encodeCursor(last.sort) : null,
    };
  }
}

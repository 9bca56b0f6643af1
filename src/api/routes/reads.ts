/**
 * Read routes over the read models and the event history. Reads never touch the gateway; single
 * resources carry their stream version as ETag so it can be sent back as If-Match.
 */
import type { Request, Response } from 'express';
import { z } from 'zod';
import { incarnationFor } from '../../domain/decide';
import { aggregateStateFrom } from '../../domain/evolve';
import type { InstanceState } from '../../domain/state';
import type { EventEnvelope } from '../../contracts/event-envelope';
import { classAggregateId, databaseAggregateId, instanceAggregateId, MAX_STREAM_VERSION, MEMBER_NAME_PATTERN } from '../../domain/identifiers';
import { classIdSchema } from '../../domain/ontology-class';
import { cursorKey, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, pageOf } from '../../domain/paging';
import type { ApiPorts } from '../ports';
import type { Page, PageQuery } from '../../ports/read-models';
import { problem } from '../problem';
import { intParam, parseQuery, PATH_PARAMS } from '../validation';
import type { RouteSpec } from './route-spec';
import { mayTouchDatabase } from '../../domain/access';
import { principalOfRequest } from '../auth';

const p = (req: Request, name: string): string => req.params[name] as string;
const noQuery = z.strictObject({});

const FILTER_KEY = /^filter\[([^\]]*)\]$/;
const MAX_FILTERS = 20;

/** Every list is paged: no read answers with an unbounded number of items. */
const pageFields = {
  limit: intParam(1, MAX_PAGE_LIMIT).optional().describe(`page size, 1..${MAX_PAGE_LIMIT} (default ${DEFAULT_PAGE_LIMIT})`),
  cursor: z.string().min(1).max(2048).optional().describe('next_cursor of the previous page'),
};
const pageQuery = z.strictObject(pageFields);
const pageQueryOf = (q: { limit?: number; cursor?: string }): PageQuery => ({ limit: q.limit ?? DEFAULT_PAGE_LIMIT, ...(q.cursor !== undefined ? { cursor: q.cursor } : {}) });

/** History pages end at a stream version: the cursor's key. */
function decodeVersionCursor(cursor: string): number {
  const v = cursorKey(cursor);
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v < MAX_STREAM_VERSION) return v;
  throw problem('INVALID_QUERY', 'the cursor is not one this API issued', { errors: [{ path: 'cursor', message: 'not a cursor of this history' }] });
}

const listInstancesQuery = z
  .object(pageFields)
  .catchall(z.string())
  .superRefine((q, ctx) => {
    const extra = Object.keys(q).filter((k) => k !== 'limit' && k !== 'cursor');
    if (extra.length > MAX_FILTERS) ctx.addIssue({ code: 'custom', path: [], message: `at most ${MAX_FILTERS} filters` });
    for (const key of extra) {
      const m = FILTER_KEY.exec(key);
      if (m === null) ctx.addIssue({ code: 'custom', path: [key], message: 'unknown parameter; filters are written filter[property]=value' });
      else if (!MEMBER_NAME_PATTERN.test(m[1])) ctx.addIssue({ code: 'custom', path: [key], message: `property name must match ${MEMBER_NAME_PATTERN.source}` });
    }
  });

/**
 * Query strings carry only text, properties are typed: true/false and numbers are taken as such;
 * a value in double quotes is always the string inside them (e.g. filter[code]="007").
 */
export function filterValue(raw: string): string | number | boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?(0|[1-9]\d{0,14})(\.\d+)?$/.test(raw)) return Number(raw);
  const quoted = /^"(.*)"$/s.exec(raw);
  return quoted !== null ? quoted[1] : raw;
}

const relationshipsQuery = z
  .strictObject({
    depth: intParam(1, 5).optional().describe('traverse up to N hops in both directions (1..5); without it, the direct edges, paged'),
    limit: intParam(1, 10_000)
      .optional()
      .describe(`without depth: page size, 1..${MAX_PAGE_LIMIT} (default ${DEFAULT_PAGE_LIMIT}); with depth: maximum nodes of the traversal, 1..10000 (default 1000)`),
    cursor: pageFields.cursor.describe('without depth only: next_cursor of the previous page'),
  })
  .superRefine((q, ctx) => {
    if (q.depth === undefined && q.limit !== undefined && q.limit > MAX_PAGE_LIMIT) ctx.addIssue({ code: 'custom', path: ['limit'], message: `a page holds at most ${MAX_PAGE_LIMIT} edges` });
    if (q.depth !== undefined && q.cursor !== undefined) ctx.addIssue({ code: 'custom', path: ['cursor'], message: 'a traversal is not paged; leave out cursor or depth' });
  });
const SEARCH_PARAMS = ['q', 'class_id', 'limit', 'cursor', 'facets', 'boost'];
const NAME_LIST = new RegExp(`^${MEMBER_NAME_PATTERN.source.slice(1, -1)}(,${MEMBER_NAME_PATTERN.source.slice(1, -1)}){0,19}$`);
const BOOST_LIST = new RegExp(`^${MEMBER_NAME_PATTERN.source.slice(1, -1)}:\\d{1,2}(\\.\\d)?(,${MEMBER_NAME_PATTERN.source.slice(1, -1)}:\\d{1,2}(\\.\\d)?){0,19}$`);
const searchQuery = z
  .object({
    q: z.string().trim().min(1).max(500).describe('text to search for; typos are tolerated, word prefixes match'),
    class_id: classIdSchema.optional().describe('only instances of this class'),
    limit: intParam(1, 100).optional().describe('1..100 (default 20)'),
    cursor: z.string().min(1).max(2048).optional().describe('next_cursor of the previous page'),
    facets: z.string().regex(NAME_LIST, 'comma-separated property names (at most 20)').optional().describe('properties to count values of, e.g. facets=country,year'),
    boost: z.string().regex(BOOST_LIST, 'comma-separated property:weight, e.g. title:5,summary:2').optional().describe('weights per property (default name:4,label:4,title:3)'),
  })
  .catchall(z.string())
  .superRefine((q, ctx) => {
    const extra = Object.keys(q).filter((k) => !SEARCH_PARAMS.includes(k));
    if (extra.length > MAX_FILTERS) ctx.addIssue({ code: 'custom', path: [], message: `at most ${MAX_FILTERS} filters` });
    for (const key of extra) {
      const m = FILTER_KEY.exec(key);
      if (m === null) ctx.addIssue({ code: 'custom', path: [key], message: 'unknown parameter; filters are written filter[property]=value' });
      else if (!MEMBER_NAME_PATTERN.test(m[1])) ctx.addIssue({ code: 'custom', path: [key], message: `property name must match ${MEMBER_NAME_PATTERN.source}` });
    }
  });

/** The filter[property]=value parameters of a query. */
function filtersOf(q: Record<string, unknown>): Record<string, string | number | boolean> {
  const filter: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(q)) {
    const m = FILTER_KEY.exec(key);
    if (m !== null && typeof value === 'string') filter[m[1]] = filterValue(value);
  }
  return filter;
}

const etag = (res: Response, version: number) => res.setHeader('ETag', `"${version}"`);

const notFound = {
  '400': { description: 'Invalid id or query', schema: 'Problem' },
  '404': { description: 'Not found', schema: 'Problem' },
};

export function readRoutes(ports: ApiPorts): RouteSpec[] {
  const rm = ports.readModels;

  async function requireDatabase(db: string) {
    const found = await rm.getDatabase(db);
    if (found === null) throw problem('DATABASE_NOT_FOUND', `database '${db}' does not exist`);
    return found;
  }
  async function requireClass(db: string, classId: string) {
    const found = await rm.getClass(db, classId);
    if (found !== null) return found;
    await requireDatabase(db);
    throw problem('CLASS_NOT_FOUND', `class '${classId}' does not exist in database '${db}'`);
  }
  async function requireInstance(db: string, id: string) {
    const found = await rm.getInstance(db, id);
    if (found !== null) return found;
    await requireDatabase(db);
    throw problem('INSTANCE_NOT_FOUND', `instance '${id}' does not exist in database '${db}'`);
  }

  /**
   * A page of a stream's events, or null when the stream has none at all. The stream id is asked
   * for once the page parameters are valid: naming it may need a read of its own.
   */
  async function historyPage(req: Request, aggregateType: string, streamId: () => Promise<string>): Promise<Page<EventEnvelope> | null> {
    const q = pageQueryOf(parseQuery(pageQuery, req.query));
    const after = q.cursor === undefined ? 0 : decodeVersionCursor(q.cursor);
    const aggregateId = await streamId();
    // One event past the page says whether there is a next one.
    const events = await ports.history.readStream(aggregateType, aggregateId, Math.min(after + q.limit + 1, MAX_STREAM_VERSION), after + 1);
    if (events.length === 0 && after === 0) return null;
    return pageOf(events, q.limit, (e) => e.aggregate_version);
  }

  /**
   * The life of the database whose streams the history endpoints read: the current one, from the
   * database's own stream (the source of truth, never behind). A deleted database has none.
   */
  async function currentIncarnation(db: string): Promise<number> {
    const database = aggregateStateFrom(await ports.history.readStream('database', databaseAggregateId(db)), 'database');
    if (database.status !== 'active') throw problem('DATABASE_NOT_FOUND', `database '${db}' does not exist`);
    return incarnationFor(database);
  }

  const get = (
    path: string,
    operationId: string,
    summary: string,
    tag: string,
    schema: string,
    handler: RouteSpec['handler'],
    query: z.ZodObject = noQuery,
    extra: Partial<RouteSpec> = {},
  ): RouteSpec => ({
    method: 'get',
    path,
    operationId,
    summary,
    tag,
    access: 'reader',
    query,
    responses: { '200': { description: 'OK', schema }, ...notFound },
    handler: (req, res) => {
      parseQuery(query, req.query);
      return handler(req, res);
    },
    ...extra,
  });

  return [
    get(
      '/databases',
      'listDatabases',
      'List databases, paged',
      'databases',
      'DatabasePage',
      async (req, res) => {
        const page = await rm.listDatabases(pageQueryOf(parseQuery(pageQuery, req.query)));
        // A key limited to databases sees those only; its pages may hold fewer items than the limit.
        const principal = principalOfRequest(res);
        res.json(principal === undefined ? page : { ...page, items: page.items.filter((d) => mayTouchDatabase(principal, d.name)) });
      },
      pageQuery,
    ),
    get('/databases/:db', 'getDatabase', 'Get a database', 'databases', 'Database', async (req, res) => {
      const view = await requireDatabase(p(req, 'db'));
      etag(res, view.version);
      res.json(view);
    }),
    get(
      '/databases/:db/history',
      'getDatabaseHistory',
      "Events of the database's stream, paged",
      'history',
      'EventPage',
      async (req, res) => {
        const db = p(req, 'db');
        const page = await historyPage(req, 'database', async () => databaseAggregateId(db));
        if (page === null) throw problem('DATABASE_NOT_FOUND', `database '${db}' has no history`);
        res.json(page);
      },
      pageQuery,
    ),
    get(
      '/databases/:db/classes',
      'listClasses',
      'List the ontology classes of a database, paged',
      'classes',
      'ClassPage',
      async (req, res) => {
        const db = p(req, 'db');
        const q = pageQueryOf(parseQuery(pageQuery, req.query));
        await requireDatabase(db);
        res.json(await rm.listClasses(db, q));
      },
      pageQuery,
    ),
    get('/databases/:db/classes/:classId', 'getClass', 'Get an ontology class', 'classes', 'Class', async (req, res) => {
      const view = await requireClass(p(req, 'db'), p(req, 'classId'));
      etag(res, view.version);
      res.json(view);
    }),
    get(
      '/databases/:db/classes/:classId/history',
      'getClassHistory',
      "Events of the class's stream, paged",
      'history',
      'EventPage',
      async (req, res) => {
        const db = p(req, 'db');
        const classId = p(req, 'classId');
        const page = await historyPage(req, 'ontology_class', async () => classAggregateId(db, classId, await currentIncarnation(db)));
        if (page === null) throw problem('CLASS_NOT_FOUND', `class '${classId}' has no history in database '${db}'`);
        res.json(page);
      },
      pageQuery,
    ),
    get(
      '/databases/:db/classes/:classId/instances',
      'listInstances',
      'List instances of a class, paged; filter by property equality with filter[property]=value',
      'instances',
      'InstancePage',
      async (req, res) => {
        const db = p(req, 'db');
        const classId = p(req, 'classId');
        const q = parseQuery(listInstancesQuery, req.query);
        const filter = filtersOf(q);
        await requireClass(db, classId);
        const page = await rm.listInstances(db, {
          class_id: classId,
          ...pageQueryOf(q),
          ...(Object.keys(filter).length > 0 ? { filter } : {}),
        });
        res.json(page);
      },
      listInstancesQuery,
      {
        extraQuery: [
          {
            name: 'filter',
            in: 'query',
            style: 'deepObject',
            explode: true,
            description: 'Property equality, e.g. filter[name]=Ada&filter[age]=36. true/false and numbers are typed; quote to force a string: filter[code]="007".',
            schema: { type: 'object', additionalProperties: { type: 'string' } },
          },
        ],
      },
    ),
    get('/databases/:db/classes/:classId/instances/:id', 'getClassInstance', 'Get an instance through its class', 'instances', 'Instance', async (req, res) => {
      const view = await requireInstance(p(req, 'db'), p(req, 'id'));
      if (view.class_id !== p(req, 'classId')) throw problem('INSTANCE_NOT_FOUND', `instance '${view.id}' is not of class '${p(req, 'classId')}'`);
      etag(res, view.version);
      res.json(view);
    }),
    get('/databases/:db/instances/:id', 'getInstance', 'Get an instance', 'instances', 'Instance', async (req, res) => {
      const view = await requireInstance(p(req, 'db'), p(req, 'id'));
      etag(res, view.version);
      res.json(view);
    }),
    get(
      '/databases/:db/instances/:id/relationships',
      'getRelationships',
      'Edges of an instance (one hop, paged: incoming before outgoing), or a breadth-first traversal with ?depth=N',
      'graph',
      'Relationships',
      async (req, res) => {
        const db = p(req, 'db');
        const id = p(req, 'id');
        const q = parseQuery(relationshipsQuery, req.query);
        await requireInstance(db, id);
        if (q.depth === undefined) {
          res.json(await rm.relationships(db, id, pageQueryOf(q)));
          return;
        }
        res.json({ depth: q.depth, ...(await rm.traverse(db, id, q.depth, q.limit ?? 1000)) });
      },
      relationshipsQuery,
    ),
    get(
      '/databases/:db/instances/:id/history',
      'getInstanceHistory',
      "Events of the instance's stream, paged",
      'history',
      'EventPage',
      async (req, res) => {
        const db = p(req, 'db');
        const id = p(req, 'id');
        const page = await historyPage(req, 'instance', async () => instanceAggregateId(db, id, await currentIncarnation(db)));
        // Instances created in bulk have an empty stream until their first change.
        if (page === null) await requireInstance(db, id);
        res.json(page ?? { items: [], next_cursor: null });
      },
      pageQuery,
    ),
    get('/databases/:db/instances/:id/at/:version', 'getInstanceAtVersion', 'The instance as it was at a stream version (time travel)', 'history', 'InstanceAtVersion', async (req, res) => {
      const db = p(req, 'db');
      const id = p(req, 'id');
      const version = PATH_PARAMS.version.parse(p(req, 'version'));
      const aggregateId = instanceAggregateId(db, id, await currentIncarnation(db));
      // The nearest snapshot at or below the version, then only the events after it.
      const snapshot = await ports.history.snapshotAt?.('instance', aggregateId, version);
      const base = snapshot?.state.version ?? 0;
      const events = await ports.history.readStream('instance', aggregateId, version, snapshot ? base + 1 : undefined);
      const last = events[events.length - 1];
      const reached = last === undefined ? base : (last.aggregate_version ?? base + events.length);
      if (reached < version) throw problem('VERSION_NOT_FOUND', `instance '${id}' has no version ${version}`);
      const upTo = events.filter((e, i) => (e.aggregate_version ?? base + i + 1) <= version);
      const state = aggregateStateFrom(upTo, 'instance', snapshot?.state as InstanceState | undefined);
      res.json({
        db_name: db,
        id,
        version: state.version,
        status: state.status,
        as_of: upTo[upTo.length - 1]?.occurred_at ?? snapshot?.as_of ?? null,
        instance: state.instance ?? null,
      });
    }),
    get(
      '/databases/:db/audit',
      'getDatabaseAudit',
      'Every change of a database (its own, its classes, instances and bulk batches), oldest first, paged; written by the audit consumer',
      'history',
      'AuditPage',
      async (req, res) => {
        // Not checked against the read models: the log of a deleted database stays readable.
        res.json(await ports.audit.list(p(req, 'db'), pageQueryOf(parseQuery(pageQuery, req.query))));
      },
      pageQuery,
    ),
    get(
      '/databases/:db/search',
      'search',
      'Search the instances of a database: relevance-ranked, typo-tolerant, with filters, facets, highlights and cursor pages',
      'search',
      'SearchResult',
      async (req, res) => {
        const db = p(req, 'db');
        const q = parseQuery(searchQuery, req.query);
        const filter = filtersOf(q);
        await requireDatabase(db);
        const limit = q.limit ?? 20;
        if (ports.search === undefined) {
          // The fallback engine: PostgreSQL full-text, exact words, first page only.
          if (q.cursor !== undefined || q.facets !== undefined || q.boost !== undefined || Object.keys(filter).length > 0) {
            throw problem('INVALID_QUERY', 'cursor, facets, boost and filters need the OpenSearch engine (SEARCH_ENGINE=opensearch)');
          }
          const items = await rm.search(db, q.q, { limit, ...(q.class_id !== undefined ? { class_id: q.class_id } : {}) });
          res.json({ engine: 'postgres', items, total: items.length, facets: {}, next_cursor: null });
          return;
        }
        const boost = q.boost === undefined ? undefined : Object.fromEntries(q.boost.split(',').map((pair) => [pair.split(':')[0], Number(pair.split(':')[1])]));
        const result = await ports.search.search(db, {
          q: q.q,
          limit,
          ...(q.class_id !== undefined ? { class_id: q.class_id } : {}),
          ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
          ...(q.facets !== undefined ? { facets: q.facets.split(',') } : {}),
          ...(boost !== undefined ? { boost } : {}),
          ...(Object.keys(filter).length > 0 ? { filter } : {}),
        });
        res.json({ engine: 'opensearch', ...result });
      },
      searchQuery,
    ),
  ];
}

/**
 * The OpenAPI 3.1 document, generated from the route list and the domain's zod schemas (3.1 uses
 * JSON Schema 2020-12, which is what z.toJSONSchema emits), so the document cannot drift from
 * what the routes accept. Only the response views, which have no zod source, are written here.
 */
import { z } from 'zod';
import { MAX_STREAM_VERSION } from '../domain/identifiers';
import { API_PROBLEM_STATUS, PROBLEM_CONTENT_TYPE, type ProblemCode } from './problem';
import { ERROR_CODES } from '../domain/errors';
import { BODY_EXAMPLES, exampleKey, problemExamples } from './openapi-examples';
import type { CommandType } from '../domain';
import { openApiPath, pathParamsOf, type RouteSpec } from './routes/route-spec';
import { ACTOR_PATTERN, PATH_PARAMS, type PathParam } from './validation';

type Json = Record<string, unknown>;

function jsonSchemaOf(schema: z.ZodType): Json {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
  return rest;
}

function bodySchemaOf(body: NonNullable<RouteSpec['body']>): Json {
  const schema = jsonSchemaOf(body.schema);
  if (body.fromPath !== undefined && Array.isArray(schema.required)) {
    schema.required = (schema.required as string[]).filter((f) => !body.fromPath!.includes(f));
  }
  return schema;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** Every code an answer can carry: the domain's refusals and the HTTP layer's own. */
const PROBLEM_CODES = [...ERROR_CODES, ...(Object.keys(API_PROBLEM_STATUS) as ProblemCode[])];
const PROBLEM_EXAMPLE_REFS = Object.fromEntries(PROBLEM_CODES.map((code) => [code, { $ref: `#/components/examples/${exampleKey(code)}` }]));

const WRITE_HEADERS: Json[] = [
  {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description: 'Resubmitting with the same key returns the first command instead of running it again',
    schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,200}$' },
  },
  {
    name: 'If-Match',
    in: 'header',
    required: false,
    description: `Expected stream version (the ETag of a read), \`3\` or \`"3"\`, at most ${MAX_STREAM_VERSION} (400 INVALID_HEADER beyond); a mismatch fails with 409 VERSION_CONFLICT`,
    schema: { type: 'string', pattern: '^"?\\d{1,10}"?$' },
  },
  {
    name: 'X-Actor',
    in: 'header',
    required: false,
    description:
      "Ignored with API keys: the actor of every event and command is the key (`key:<name>`). Only with API_AUTH=off (development) it names who acts (default 'anonymous'); a malformed value is refused either way",
    schema: { type: 'string', pattern: ACTOR_PATTERN.source },
  },
  {
    name: 'Prefer',
    in: 'header',
    required: false,
    description: 'wait=N: wait up to N seconds (bounded by the server) for the command to finish',
    schema: { type: 'string', examples: ['wait=10'] },
  },
];

const REQUEST_ID_HEADER = {
  name: 'X-Request-Id',
  in: 'header',
  required: false,
  description: 'Correlation id, echoed back (generated when absent)',
  schema: { type: 'string' },
};

function parametersOf(spec: RouteSpec): Json[] {
  const params: Json[] = pathParamsOf(spec.path).map((name) => ({
    name,
    in: 'path',
    required: true,
    schema: name in PATH_PARAMS ? jsonSchemaOf(PATH_PARAMS[name as PathParam]) : { type: 'string' },
  }));
  for (const [name, field] of Object.entries(spec.query?.shape ?? {})) {
    const schema = jsonSchemaOf(field as z.ZodType);
    const { description, ...rest } = schema;
    params.push({
      name,
      in: 'query',
      required: !(field as z.ZodType).safeParse(undefined).success,
      ...(description !== undefined ? { description } : {}),
      schema: rest,
    });
  }
  params.push(...(spec.extraQuery ?? []));
  if (spec.command !== undefined) params.push(...WRITE_HEADERS);
  params.push(REQUEST_ID_HEADER);
  return params;
}

function operationOf(spec: RouteSpec): Json {
  const responses: Json = {};
  for (const [status, doc] of Object.entries(spec.responses)) {
    const mediaType = doc.schema === 'Problem' ? PROBLEM_CONTENT_TYPE : 'application/json';
    responses[status] = { description: doc.description, ...(doc.schema ? { content: { [mediaType]: { schema: ref(doc.schema) } } } : {}) };
  }
  if (spec.access !== 'public') Object.assign(responses, ACCESS_RESPONSES, responses);
  responses.default = { description: 'Error', content: { [PROBLEM_CONTENT_TYPE]: { schema: ref('Problem'), examples: PROBLEM_EXAMPLE_REFS } } };
  const bodyExample = spec.command !== undefined ? BODY_EXAMPLES[spec.command.type as CommandType] : undefined;
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    tags: [spec.tag],
    ...(spec.access === 'public' ? { security: [] } : { 'x-required-role': spec.access }),
    ...(spec.command !== undefined ? { 'x-command-type': spec.command.type } : {}),
    parameters: parametersOf(spec),
    ...(spec.body !== undefined
      ? {
          requestBody: {
            required: true,
            ...(spec.body.description ? { description: spec.body.description } : {}),
            content: { 'application/json': { schema: bodySchemaOf(spec.body), ...(bodyExample ? { examples: { [spec.command!.type]: bodyExample } } : {}) } },
          },
        }
      : {}),
    responses,
  };
}

const problemResponse = (description: string) => ({ description, content: { [PROBLEM_CONTENT_TYPE]: { schema: ref('Problem') } } });
const ACCESS_RESPONSES: Json = {
  '401': problemResponse('No valid API key: UNAUTHENTICATED (WWW-Authenticate: Bearer)'),
  '403': problemResponse("Outside the key's role or databases: FORBIDDEN"),
  '429': problemResponse("Over the key's request rate or bulk limit (RATE_LIMITED) or commands in flight (TOO_MANY_COMMANDS); see Retry-After"),
};

const str = { type: 'string' };
const int = { type: 'integer', minimum: 0 };
const nullableStr = { type: ['string', 'null'] };
const timestamps = { created_at: { type: 'string', format: 'date-time' }, updated_at: { type: 'string', format: 'date-time' } };
const list = (item: string) => ({ type: 'object', required: ['items'], properties: { items: { type: 'array', items: ref(item) } } });
const page = (item: string) => ({
  type: 'object',
  required: ['items', 'next_cursor'],
  properties: { items: { type: 'array', items: ref(item) }, next_cursor: { ...nullableStr, description: 'pass as ?cursor= for the next page; null on the last page' } },
});

const COMPONENT_SCHEMAS: Json = {
  Problem: {
    type: 'object',
    description: 'RFC 9457 problem details',
    required: ['type', 'title', 'status', 'code'],
    properties: {
      type: { type: 'string', format: 'uri' },
      title: str,
      status: { type: 'integer' },
      detail: str,
      code: { type: 'string', description: 'Stable error code, e.g. VALIDATION_FAILED' },
      instance: str,
      request_id: str,
      errors: {
        type: 'array',
        items: {
          type: 'object',
          required: ['path', 'message'],
          properties: { path: str, message: str, code: { type: 'string', description: 'the rule this issue breaks, when the body check found it' } },
        },
      },
      current_version: { type: 'integer', description: 'VERSION_CONFLICT only' },
      command_id: str,
    },
  },
  CommandAccepted: {
    type: 'object',
    required: ['command_id', 'status', 'status_url'],
    properties: {
      command_id: str,
      status: { enum: ['PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'RETRYING'] },
      status_url: str,
      resource_url: { type: 'string', description: 'Where the created resource will be readable' },
    },
  },
  CommandStatus: {
    type: 'object',
    required: ['command_id', 'command_type', 'status', 'events'],
    properties: {
      command_id: str,
      command_type: str,
      status: { enum: ['PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'RETRYING'] },
      submitted_at: str,
      started_at: str,
      closed_at: str,
      progress: { type: 'object' },
      result: {
        type: 'object',
        properties: { aggregate_type: str, aggregate_id: str, version: int, event_count: int, events: { type: 'array', items: { type: 'object' } } },
      },
      events: { type: 'array', items: { type: 'object' } },
      error: { type: 'object', properties: { code: str, message: str, details: { type: 'array' } } },
      retry: {
        type: 'object',
        properties: {
          activity: str,
          step: { type: 'string', enum: ['claim', 'append', 'relay', 'project', 'other'] },
          attempt: int,
          since: { type: 'string', format: 'date-time' },
          next_attempt_at: { type: 'string', format: 'date-time' },
          code: str,
          last_failure: str,
        },
      },
      trace_id: { type: 'string', description: 'OpenTelemetry trace id of the command, when tracing is on' },
      status_url: str,
    },
  },
  Database: {
    type: 'object',
    properties: { name: str, description: nullableStr, version: int, ...timestamps },
  },
  DatabasePage: page('Database'),
  Class: {
    type: 'object',
    properties: {
      db_name: str,
      id: str,
      label: str,
      description: nullableStr,
      parent_class: nullableStr,
      abstract: { type: 'boolean' },
      definition: { type: 'object' },
      version: int,
      ...timestamps,
    },
  },
  ClassPage: page('Class'),
  Instance: {
    type: 'object',
    properties: {
      db_name: str,
      id: str,
      class_id: str,
      properties: { type: 'object' },
      relationships: { type: 'object', additionalProperties: { anyOf: [str, { type: 'array', items: str }] } },
      version: int,
      ...timestamps,
    },
  },
  InstanceList: list('Instance'),
  SearchResult: {
    type: 'object',
    description: 'Hits by relevance. With SEARCH_ENGINE=postgres: items only (total = items on this page, no facets, no cursor).',
    properties: {
      engine: { enum: ['opensearch', 'postgres'] },
      items: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            db_name: str,
            id: str,
            class_id: str,
            properties: { type: 'object' },
            relationships: { type: 'object' },
            version: int,
            updated_at: str,
            score: { type: 'number' },
            highlights: { type: 'object', additionalProperties: { type: 'array', items: str }, description: 'matched words in <em>, per property' },
          },
        },
      },
      total: int,
      facets: {
        type: 'object',
        description: 'class_id, and each property named in ?facets=: [{ value, count }], most frequent first',
        additionalProperties: { type: 'array', items: { type: 'object', properties: { value: {}, count: int } } },
      },
      next_cursor: { ...nullableStr, description: 'pass as ?cursor= for the next page; null on the last page' },
    },
  },
  InstancePage: page('Instance'),
  Edge: { type: 'object', properties: { from_id: str, predicate: str, to_id: str } },
  Relationships: {
    type: 'object',
    description: 'Without depth: one page of the outgoing and incoming edges (incoming first across pages). With depth: nodes and edges of the traversal.',
    properties: {
      outgoing: { type: 'array', items: ref('Edge') },
      incoming: { type: 'array', items: ref('Edge') },
      next_cursor: { ...nullableStr, description: 'without depth: pass as ?cursor= for the next page; null on the last page' },
      depth: int,
      nodes: { type: 'array', items: ref('Instance') },
      edges: { type: 'array', items: ref('Edge') },
    },
  },
  Event: {
    type: 'object',
    properties: {
      event_id: str,
      event_type: str,
      aggregate_type: str,
      aggregate_id: str,
      aggregate_version: int,
      occurred_at: str,
      actor: str,
      command_id: str,
      schema_version: int,
      payload: {},
      metadata: { type: 'object' },
    },
  },
  EventPage: page('Event'),
  AuditEntry: {
    type: 'object',
    properties: {
      position: int,
      event_id: str,
      event_type: str,
      aggregate_type: str,
      aggregate_id: str,
      aggregate_version: int,
      actor: str,
      command_id: str,
      occurred_at: str,
      schema_version: int,
      payload: {},
      recorded_at: str,
    },
  },
  AuditPage: page('AuditEntry'),
  InstanceAtVersion: {
    type: 'object',
    properties: {
      db_name: str,
      id: str,
      version: int,
      status: { enum: ['absent', 'active', 'deleted'] },
      as_of: nullableStr,
      instance: { anyOf: [{ type: 'object' }, { type: 'null' }] },
    },
  },
  Health: { type: 'object', properties: { status: { const: 'ok' }, checks: { type: 'object' } } },
  ApiKey: {
    type: 'object',
    required: ['key_id', 'name', 'role', 'databases', 'created_at', 'created_by', 'revoked_at'],
    properties: {
      key_id: str,
      name: str,
      role: { enum: ['reader', 'writer', 'admin'] },
      databases: { anyOf: [{ type: 'array', items: str }, { type: 'null' }], description: 'null: every database' },
      created_at: str,
      created_by: str,
      revoked_at: nullableStr,
    },
  },
  NewApiKey: {
    allOf: [ref('ApiKey'), { type: 'object', required: ['key'], properties: { key: { type: 'string', description: 'The key itself, shown this once' } } }],
  },
  ApiKeyList: list('ApiKey'),
};

export interface RouteGroup {
  prefix: string;
  specs: readonly RouteSpec[];
}

export function buildOpenApi(groups: readonly RouteGroup[]): Json {
  const paths: Record<string, Json> = {};
  for (const { prefix, specs } of groups) {
    for (const spec of specs) {
      const path = prefix + openApiPath(spec.path);
      paths[path] = { ...paths[path], [spec.method]: operationOf(spec) };
    }
  }
  paths['/api/v1/openapi.json'] = {
    get: { operationId: 'openapi', summary: 'This document', tags: ['meta'], security: [], responses: { '200': { description: 'OpenAPI 3.1 document' } } },
  };
  paths['/metrics'] = {
    get: {
      operationId: 'metrics',
      summary: 'Prometheus metrics (http_request_duration_seconds by route and status, process metrics)',
      tags: ['meta'],
      security: [],
      responses: { '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: str } } } },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'spice-oms',
      version: '0.1.0',
      description:
        'Ontology commands (databases, classes, instances) run as durable workflows. Writes answer 202 with a status URL; ' +
        '`?wait=true` or `Prefer: wait=N` waits for the outcome. Errors are RFC 9457 application/problem+json with a stable `code`.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    // Every operation needs a key unless it says `security: []`; `x-required-role` names the least role.
    security: [{ apiKey: [] }],
    components: {
      schemas: COMPONENT_SCHEMAS,
      examples: problemExamples(PROBLEM_CODES),
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key (`spk_...`) from `npm run ops -- keys create` or POST /api/v1/admin/keys, sent as Authorization: Bearer <key>',
        },
      },
    },
  };
}

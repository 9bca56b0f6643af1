/**
 * Write routes: each validates its input with the domain's request schema, submits one command
 * and answers 202 (or, when asked to wait, the outcome). Nothing reaches the gateway unless every
 * check passed, which is what keeps bad input out of S3, the ledger and Kafka.
 */
import { randomUUID } from 'node:crypto';
import { nameBasedUuid } from '../../lib/name-based-uuid';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { assignInstanceIds, commandSchemas, requestSchemas, type CommandType } from '../../domain/commands';
import { streamedBulkItems } from '../bulk-body';
import type { Logger } from 'pino';
import { type ApiPorts } from '../ports';
import { FAILURE_DETAIL, type CommandStatusView } from '../../ports/command-gateway';
import { workflowIdOf } from '../../contracts/workflows';
import { problem, ProblemError, statusOfCode } from '../problem';
import { boolParam, expectedVersionOf, idempotencyKeyOf, parseBody, parseQuery, waitOf, withPathField } from '../validation';
import type { RouteSpec } from './route-spec';
import { mayTouchDatabase } from '../../domain/access';
import { actorOfRequest, principalOfRequest, type AccessGuard } from '../auth';

export const API_PREFIX = '/api/v1';
export const commandUrl = (commandId: string): string => `${API_PREFIX}/commands/${encodeURIComponent(commandId)}`;

interface BuiltCommand {
  command_type: CommandType;
  db_name?: string;
  payload: unknown;
  /** Where the created resource will be readable (creates of one resource only). */
  resource_url?: string;
}

const waitQuery = { wait: z.enum(['true', 'false', '']).optional() };
const writeQuery = z.strictObject(waitQuery);
const deleteClassQuery = z.strictObject({ ...waitQuery, force: boolParam.optional() });

/**
 * Ids the client left out. With an Idempotency-Key they are derived from it, so a retried request
 * carries the same payload as the first and meets the first command instead of looking like a
 * reuse of the key with a different body; without one a random UUID is all we need.
 */
function idGenerator(idempotencyKey: string | undefined, scope: string): () => string {
  if (idempotencyKey === undefined) return randomUUID;
  let n = 0;
  return () => nameBasedUuid(`spice-oms:instance-id:${scope}:${idempotencyKey}:${n++}`);
}

const p = (req: Request, name: string): string => req.params[name] as string;

/** What dependencies said behind the view's codes goes to the log under the request id, never into the answer. */
/** The request's log line names the command it submitted or read: its ids, and its aggregate and events once known. */
function noteCommand(res: Response, commandId: string, view: CommandStatusView | null): void {
  const result = view?.result;
  const events = result?.events ?? view?.events ?? [];
  res.locals.command = {
    command_id: commandId,
    workflow_id: workflowIdOf(commandId),
    ...(result ? { aggregate: `${result.aggregate_type}/${result.aggregate_id}` } : {}),
    ...(events.length > 0 ? { event_ids: events.map((e) => e.event_id) } : {}),
  };
}

function logFailureDetail(res: Response, view: CommandStatusView | null): void {
  const detail = view?.[FAILURE_DETAIL];
  if (view && detail) (res.locals.log as Logger | undefined)?.warn({ command_id: view.command_id, status: view.status, ...detail }, 'command failure detail');
}

/** Business failures carry codes the domain (or the workflow) defines; the rest is a server fault. */
function failureProblem(view: CommandStatusView): ProblemError {
  const code = view.error?.code ?? 'INTERNAL_ERROR';
  const status = statusOfCode(code) ?? 500;
  const extensions: Record<string, unknown> = { command_id: view.command_id, status_url: commandUrl(view.command_id) };
  if (code === 'VERSION_CONFLICT') {
    const current = currentVersionOf(view.error);
    if (current !== undefined) extensions.current_version = current;
  }
  return new ProblemError({
    code,
    status,
    detail: status >= 500 ? 'the command failed' : (view.error?.message ?? 'the command failed'),
    errors: status >= 500 ? undefined : view.error?.details,
    extensions,
    headers: extensions.current_version !== undefined ? { ETag: `"${String(extensions.current_version)}"` } : undefined,
  });
}

/** The event store words conflicts as "..., current N"; a detail at path current_version wins when present. */
function currentVersionOf(error: CommandStatusView['error']): number | undefined {
  if (error === undefined) return undefined;
  const detail = error.details?.find((d) => d.path === 'current_version' || d.path === 'version');
  const m = /(\d+)/.exec(detail?.message ?? '') ?? /current(?: version)?\D{0,3}(\d+)/i.exec(error.message);
  return m === null ? undefined : Number(m[1]);
}

async function submitAndRespond(ports: ApiPorts, guard: AccessGuard, req: Request, res: Response, creates: boolean, build: (newId: (scope: string) => () => string) => BuiltCommand): Promise<void> {
  // Headers first: all of them are checked before the body is even looked at by the schema.
  const idempotencyKey = idempotencyKeyOf(req);
  const expectedVersion = expectedVersionOf(req);
  const actor = actorOfRequest(req, res);
  const wait = waitOf(req, ports.maxWaitMs);
  const built = build((scope) => idGenerator(idempotencyKey, scope));

  await guard.admitCommand(res, (id) => ports.commands.isClosed(id));
  const outcome = await ports.commands.submit({
    command_type: built.command_type,
    ...(built.db_name !== undefined ? { db_name: built.db_name } : {}),
    payload: built.payload,
    ...(idempotencyKey !== undefined ? { idempotency_key: idempotencyKey } : {}),
    ...(expectedVersion !== undefined ? { expected_version: expectedVersion } : {}),
    actor,
  });
  if (outcome.created) guard.trackCommand(res, outcome.command_id);
  const statusUrl = commandUrl(outcome.command_id);
  if (wait.preferApplied !== undefined) res.setHeader('Preference-Applied', wait.preferApplied);
  if (!outcome.created) res.setHeader('Idempotent-Replayed', 'true');

  let view: CommandStatusView | null = null;
  if (wait.ms > 0) {
    // 'close' before the answer is written means the client went away: nobody waits any more.
    const gone = new AbortController();
    const onClose = () => gone.abort();
    res.once('close', onClose);
    try {
      // A stopping server answers waits with the command's status as it stands.
      view = await ports.commands.wait(outcome.command_id, wait.ms, ports.stopping ? AbortSignal.any([gone.signal, ports.stopping]) : gone.signal);
    } finally {
      res.off('close', onClose);
    }
  }
  // A resubmission describes the first command as it stands now, without waiting.
  else if (!outcome.created) view = await ports.commands.status(outcome.command_id);

  noteCommand(res, outcome.command_id, view);
  logFailureDetail(res, view);
  if (view?.status === 'FAILED') throw failureProblem(view);
  if (view?.status === 'COMPLETED') {
    const status = creates && outcome.created ? 201 : 200;
    res.setHeader('Location', status === 201 && built.resource_url !== undefined ? built.resource_url : statusUrl);
    res.status(status).json({ ...view, status_url: statusUrl, ...(built.resource_url ? { resource_url: built.resource_url } : {}) });
    return;
  }
  res.setHeader('Location', statusUrl);
  res.setHeader('Retry-After', '1');
  res.status(202).json({
    command_id: outcome.command_id,
    status: view?.status ?? 'PENDING',
    status_url: statusUrl,
    ...(built.resource_url ? { resource_url: built.resource_url } : {}),
  });
}

const dbUrl = (db: string) => `${API_PREFIX}/databases/${db}`;

const accepted = {
  '202': { description: 'Accepted: the command runs asynchronously; poll status_url', schema: 'CommandAccepted' },
  '400': { description: 'Invalid id, header or query', schema: 'Problem' },
  '409': { description: 'Business conflict (when waiting)', schema: 'Problem' },
  '413': { description: 'Body too large (API_BODY_LIMIT): PAYLOAD_TOO_LARGE', schema: 'Problem' },
  '415': { description: 'Content-Type is not application/json', schema: 'Problem' },
  '422': {
    description: 'Refused body, every issue listed in errors[] (README "Input limits"): VALIDATION_FAILED, BODY_TOO_DEEP, UNSTORABLE_STRING, UNSAFE_NUMBER, STRING_TOO_LONG, TOO_MANY_ITEMS',
    schema: 'Problem',
  },
};
const doneCreate = { '201': { description: 'Created (with ?wait / Prefer: wait and the command completed in time)', schema: 'CommandStatus' } };
const doneUpdate = { '200': { description: 'Done (with ?wait / Prefer: wait and the command completed in time)', schema: 'CommandStatus' } };

export function commandRoutes(ports: ApiPorts, guard: AccessGuard): RouteSpec[] {
  const write =
    (creates: boolean, build: (req: Request, newId: (scope: string) => () => string) => BuiltCommand, query: z.ZodType = writeQuery) =>
    (req: Request, res: Response) => {
      parseQuery(query, req.query);
      return submitAndRespond(ports, guard, req, res, creates, (newId) => build(req, newId));
    };

  return [
    {
      method: 'post',
      path: '/databases',
      operationId: 'createDatabase',
      summary: 'Create a database (CREATE_DATABASE)',
      tag: 'databases',
      access: 'writer',
      databaseOf: (req) => (typeof req.body?.name === 'string' ? req.body.name : undefined),
      command: { type: 'CREATE_DATABASE', creates: true },
      body: { schema: requestSchemas.CREATE_DATABASE },
      query: writeQuery,
      responses: { ...doneCreate, ...accepted },
      handler: write(true, (req) => {
        const payload = parseBody(requestSchemas.CREATE_DATABASE, req.body);
        return { command_type: 'CREATE_DATABASE', payload, resource_url: dbUrl(payload.name) };
      }),
    },
    {
      method: 'delete',
      path: '/databases/:db',
      operationId: 'deleteDatabase',
      summary: 'Delete a database (DELETE_DATABASE)',
      tag: 'databases',
      access: 'writer',
      command: { type: 'DELETE_DATABASE', creates: false },
      query: writeQuery,
      responses: { ...doneUpdate, ...accepted },
      handler: write(false, (req) => ({
        command_type: 'DELETE_DATABASE',
        payload: parseBody(requestSchemas.DELETE_DATABASE, { name: p(req, 'db') }),
      })),
    },
    {
      method: 'post',
      path: '/databases/:db/classes',
      operationId: 'createClass',
      summary: 'Create an ontology class (CREATE_ONTOLOGY_CLASS)',
      tag: 'classes',
      access: 'writer',
      command: { type: 'CREATE_ONTOLOGY_CLASS', creates: true },
      body: { schema: requestSchemas.CREATE_ONTOLOGY_CLASS },
      query: writeQuery,
      responses: { ...doneCreate, ...accepted },
      handler: write(true, (req) => {
        const db = p(req, 'db');
        const payload = parseBody(requestSchemas.CREATE_ONTOLOGY_CLASS, req.body);
        return { command_type: 'CREATE_ONTOLOGY_CLASS', db_name: db, payload, resource_url: `${dbUrl(db)}/classes/${payload.id}` };
      }),
    },
    {
      method: 'put',
      path: '/databases/:db/classes/:classId',
      operationId: 'updateClass',
      summary: 'Update an ontology class, partially (UPDATE_ONTOLOGY_CLASS)',
      tag: 'classes',
      access: 'writer',
      command: { type: 'UPDATE_ONTOLOGY_CLASS', creates: false },
      body: { schema: requestSchemas.UPDATE_ONTOLOGY_CLASS, fromPath: ['id'], description: 'Fields to change; `id`, when present, must equal the path' },
      query: writeQuery,
      responses: { ...doneUpdate, ...accepted },
      handler: write(false, (req) => ({
        command_type: 'UPDATE_ONTOLOGY_CLASS',
        db_name: p(req, 'db'),
        payload: parseBody(requestSchemas.UPDATE_ONTOLOGY_CLASS, withPathField(req.body, 'id', p(req, 'classId'))),
      })),
    },
    {
      method: 'delete',
      path: '/databases/:db/classes/:classId',
      operationId: 'deleteClass',
      summary: 'Delete an ontology class (DELETE_ONTOLOGY_CLASS); ?force=true even while instances exist',
      tag: 'classes',
      access: 'writer',
      command: { type: 'DELETE_ONTOLOGY_CLASS', creates: false },
      query: deleteClassQuery,
      responses: { ...doneUpdate, ...accepted },
      handler: write(
        false,
        (req) => {
          const { force } = parseQuery(deleteClassQuery, req.query);
          return {
            command_type: 'DELETE_ONTOLOGY_CLASS',
            db_name: p(req, 'db'),
            payload: parseBody(requestSchemas.DELETE_ONTOLOGY_CLASS, { id: p(req, 'classId'), force: force ?? false }),
          };
        },
        deleteClassQuery,
      ),
    },
    {
      method: 'post',
      path: '/databases/:db/classes/:classId/instances',
      operationId: 'createInstance',
      summary: 'Create an instance of the class (CREATE_INSTANCE); the id is generated when absent',
      tag: 'instances',
      access: 'writer',
      command: { type: 'CREATE_INSTANCE', creates: true },
      body: { schema: requestSchemas.CREATE_INSTANCE, fromPath: ['class_id'], description: '`class_id`, when present, must equal the path' },
      query: writeQuery,
      responses: { ...doneCreate, ...accepted },
      handler: write(true, (req, newId) => {
        const db = p(req, 'db');
        const classId = p(req, 'classId');
        const request = parseBody(requestSchemas.CREATE_INSTANCE, withPathField(req.body, 'class_id', classId));
        const payload = parseBody(commandSchemas.CREATE_INSTANCE, assignInstanceIds(request, newId(`${db}:${classId}`)));
        return { command_type: 'CREATE_INSTANCE', db_name: db, payload, resource_url: `${dbUrl(db)}/instances/${encodeURIComponent(payload.id)}` };
      }),
    },
    {
      method: 'post',
      path: '/databases/:db/classes/:classId/instances\\:bulk',
      operationId: 'bulkCreateInstances',
      summary: 'Create many instances of the class in one command (BULK_CREATE_INSTANCES)',
      tag: 'instances',
      access: 'writer',
      limit: 'bulk',
      command: { type: 'BULK_CREATE_INSTANCES', creates: true },
      body: { schema: requestSchemas.BULK_CREATE_INSTANCES, fromPath: ['class_id'], description: '`class_id`, when present, must equal the path', streamed: true },
      query: writeQuery,
      responses: { ...doneCreate, ...accepted },
      handler: write(true, (req, newId) => {
        const db = p(req, 'db');
        const classId = p(req, 'classId');
        // Read and checked item by item while the gateway writes it to S3 (bulk-body.ts).
        const payload = streamedBulkItems(req, { classId, limits: ports.limits, bodyLimitBytes: ports.bodyLimitBytes, newId: newId(`${db}:${classId}:bulk`) });
        return { command_type: 'BULK_CREATE_INSTANCES', db_name: db, payload };
      }),
    },
    {
      method: 'put',
      path: '/databases/:db/classes/:classId/instances/:id',
      operationId: 'updateInstance',
      summary: 'Update an instance, partially (UPDATE_INSTANCE); null removes a property or relationship',
      tag: 'instances',
      access: 'writer',
      command: { type: 'UPDATE_INSTANCE', creates: false },
      body: { schema: requestSchemas.UPDATE_INSTANCE, fromPath: ['id', 'class_id'], description: '`id` and `class_id`, when present, must equal the path' },
      query: writeQuery,
      responses: { ...doneUpdate, ...accepted },
      handler: write(false, (req) => ({
        command_type: 'UPDATE_INSTANCE',
        db_name: p(req, 'db'),
        // The class in the path travels with the command: an instance of another class is not found through it.
        payload: parseBody(requestSchemas.UPDATE_INSTANCE, withPathField(withPathField(req.body, 'id', p(req, 'id')), 'class_id', p(req, 'classId'))),
      })),
    },
    {
      method: 'delete',
      path: '/databases/:db/classes/:classId/instances/:id',
      operationId: 'deleteInstance',
      summary: 'Delete an instance (DELETE_INSTANCE)',
      tag: 'instances',
      access: 'writer',
      command: { type: 'DELETE_INSTANCE', creates: false },
      query: writeQuery,
      responses: { ...doneUpdate, ...accepted },
      handler: write(false, (req) => ({
        command_type: 'DELETE_INSTANCE',
        db_name: p(req, 'db'),
        payload: parseBody(requestSchemas.DELETE_INSTANCE, { id: p(req, 'id'), class_id: p(req, 'classId') }),
      })),
    },
    {
      method: 'get',
      path: '/commands/:commandId',
      operationId: 'getCommand',
      summary: 'Status of a command: phase, result, events and their delivery, error',
      tag: 'commands',
      // Its database is known once the command is found: checked in the handler.
      access: 'reader',
      responses: {
        '200': { description: 'The command', schema: 'CommandStatus' },
        '400': { description: 'Invalid command id', schema: 'Problem' },
        '404': { description: 'Unknown command', schema: 'Problem' },
      },
      handler: async (req, res) => {
        const id = p(req, 'commandId');
        const view = await ports.commands.status(id);
        if (view === null) throw problem('COMMAND_NOT_FOUND', `no command '${id}'`);
        noteCommand(res, id, view);
        const principal = principalOfRequest(res);
        if (principal !== undefined && view.db_name !== undefined && !mayTouchDatabase(principal, view.db_name)) {
          throw problem('FORBIDDEN', `the key '${principal.name}' may not read commands of database '${view.db_name}'`);
        }
        logFailureDetail(res, view);
        // Admins see what the dependencies said; everyone else gets codes and our own words.
        const detail = principal?.role === 'admin' ? view[FAILURE_DETAIL] : undefined;
        res.json({ ...view, status_url: commandUrl(id), ...(detail !== undefined ? { failure_detail: detail } : {}) });
      },
    },
  ];
}

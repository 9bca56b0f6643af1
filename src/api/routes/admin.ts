/**
 * Operator endpoints under /api/v1/admin: the storage mode (read, switch) and the migration
 * workflows (start, status, pause, resume). The same operations as `npm run ops` (MigrationOps).
 */
import { z } from 'zod';
import type { ApiPorts } from '../ports';
import { problem } from '../problem';
import { actorOfRequest } from '../auth';
import { parseBody } from '../validation';
import type { RouteSpec } from './route-spec';
import { databaseNameSchema, instanceIdSchema } from '../../domain/commands';

const MODES = ['legacy', 'dual_write', 's3_only'] as const;
const KINDS = { backfill: 'backfill', 'reverse-sync': 'reverse_sync', verify: 'verify' } as const;

const switchBody = z.strictObject({
  mode: z.enum(MODES),
  reason: z.string().min(1).max(500),
  force: z.boolean().optional(),
});

const startBody = z.strictObject({
  events_per_second: z.number().int().min(1).max(1_000_000).optional(),
  chunk_size: z.number().int().min(1).max(10_000).optional(),
  target: z.enum(['s3', 'legacy', 'both']).optional(),
});

const forgetBody = z.strictObject({
  command_type: z.literal('FORGET_SUBJECT'),
  db_name: databaseNameSchema,
  /** The subject: an instance of the database's current life. */
  instance_id: instanceIdSchema,
});

/** FORGET_SUBJECT: crypto-shredding of one subject's personal values (README "Personal data"). */
export function subjectRoutes(ports: ApiPorts): RouteSpec[] {
  const subjects = ports.subjects;
  if (!subjects) return [];
  return [
    {
      method: 'post',
      path: '/admin/forget-subject',
      operationId: 'forgetSubject',
      summary: "FORGET_SUBJECT: deletes the subject's data key and purges its values from the read models and the search index; its events then read as erased",
      tag: 'admin',
      access: 'admin',
      body: { schema: forgetBody },
      responses: { '200': { description: 'Forgotten: the key is gone (key_deleted false when there was none) and the purge is done' } },
      handler: async (req, res) => {
        const body = parseBody(forgetBody, req.body);
        res.json(await subjects.forget({ db_name: body.db_name, instance_id: body.instance_id, actor: actorOfRequest(req, res) }));
      },
    },
  ];
}

function kindOf(raw: unknown): (typeof KINDS)[keyof typeof KINDS] {
  const kind = KINDS[String(raw) as keyof typeof KINDS];
  if (!kind) throw problem('NOT_FOUND', `no migration '${String(raw).slice(0, 40)}'; one of ${Object.keys(KINDS).join(', ')}`);
  return kind;
}

export function adminRoutes(ports: ApiPorts): RouteSpec[] {
  const admin = ports.admin;
  if (!admin) return [];
  return [
    {
      method: 'get',
      path: '/admin/storage-mode',
      operationId: 'getStorageMode',
      summary: 'The storage mode in force, its flags, the last migration runs and the recent switch requests',
      tag: 'admin',
      access: 'admin',
      responses: { '200': { description: 'The storage mode' } },
      handler: async (_req, res) => {
        res.json(await admin.getMode());
      },
    },
    {
      method: 'put',
      path: '/admin/storage-mode',
      operationId: 'setStorageMode',
      summary: 'Switch the storage mode (audited); 409 STORAGE_MODE_PRECONDITION_FAILED unless its preconditions hold or force is set',
      tag: 'admin',
      access: 'admin',
      body: { schema: switchBody },
      responses: { '200': { description: 'Switched (outcome switched or forced)' }, '409': { description: 'Preconditions not met (audited as refused)' } },
      handler: async (req, res) => {
        const body = parseBody(switchBody, req.body);
        try {
          res.json(await admin.setMode({ to: body.mode, reason: body.reason, force: body.force, actor: actorOfRequest(req, res) }));
        } catch (err) {
          const refused = err as { code?: string; message?: string; outcome?: { unmet: string[] } };
          if (refused.code !== 'STORAGE_MODE_PRECONDITION_FAILED') throw err;
          throw problem('STORAGE_MODE_PRECONDITION_FAILED', String(refused.message), { errors: (refused.outcome?.unmet ?? []).map((m) => ({ path: 'mode', message: m })) });
        }
      },
    },
    {
      method: 'post',
      path: '/admin/migrations/:migration',
      operationId: 'startMigration',
      summary: 'Start a migration workflow (backfill, reverse-sync, verify) or join the running one',
      tag: 'admin',
      access: 'admin',
      body: { schema: startBody },
      responses: { '202': { description: 'Running' } },
      handler: async (req, res) => {
        const started = await admin.start(kindOf(req.params.migration), parseBody(startBody, req.body ?? {}));
        res.status(202).json(started);
      },
    },
    {
      method: 'get',
      path: '/admin/migrations/:migration',
      operationId: 'migrationStatus',
      summary: 'Progress of the last migration workflow of a kind (events, rate, differences)',
      tag: 'admin',
      access: 'admin',
      responses: { '200': { description: 'Status and progress' }, '404': { description: 'Never run' } },
      handler: async (req, res) => {
        const status = await admin.status(kindOf(req.params.migration));
        if (!status) throw problem('NOT_FOUND', 'this migration has never run');
        res.json(status);
      },
    },
  ];
}

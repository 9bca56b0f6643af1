/**
 * Key management for admins: create (the key is in this answer and nowhere else), list, revoke.
 * The operator CLI (`npm run ops -- keys ...`) does the same through the same ApiKeys.
 */
import { z } from 'zod';
import { databaseNameSchema } from '../../domain/commands';
import { KEY_NAME_PATTERN, ROLES } from '../../domain/access';
import type { ApiKeys } from '../api-keys';
import { principalOfRequest } from '../auth';
import { parseBody } from '../validation';
import type { RouteSpec } from './route-spec';

export const newKeySchema = z.strictObject({
  name: z.string().regex(KEY_NAME_PATTERN).describe('unique, never reused; events record `key:<name>` as their actor'),
  role: z.enum(ROLES).describe('reader: reads; writer: reads and commands; admin: everything, admin endpoints included'),
  databases: z.array(databaseNameSchema).min(1).max(1000).optional().describe('the only databases the key may touch; all when absent'),
});

const problems = {
  '400': { description: 'Invalid key id', schema: 'Problem' },
  '422': { description: 'Invalid body', schema: 'Problem' },
};

export function adminKeyRoutes(keys: ApiKeys): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/admin/keys',
      operationId: 'createApiKey',
      summary: 'Create an API key; the answer holds the key, shown this once (only its hash is stored)',
      tag: 'admin',
      access: 'admin',
      body: { schema: newKeySchema },
      responses: {
        '201': { description: 'Created: `key` is the secret to send as Authorization: Bearer <key>', schema: 'NewApiKey' },
        '409': { description: 'Name taken: API_KEY_EXISTS', schema: 'Problem' },
        ...problems,
      },
      handler: async (req, res) => {
        const body = parseBody(newKeySchema, req.body);
        const createdBy = principalOfRequest(res)?.actor ?? 'anonymous';
        const { key, record } = await keys.create({ ...body, created_by: createdBy });
        res.setHeader('Cache-Control', 'no-store');
        res.status(201).json({ ...record, key });
      },
    },
    {
      method: 'get',
      path: '/admin/keys',
      operationId: 'listApiKeys',
      summary: 'List API keys (never their secrets), revoked ones included',
      tag: 'admin',
      access: 'admin',
      responses: { '200': { description: 'The keys', schema: 'ApiKeyList' } },
      handler: async (_req, res) => {
        res.json({ items: await keys.list() });
      },
    },
    {
      method: 'delete',
      path: '/admin/keys/:keyId',
      operationId: 'revokeApiKey',
      summary: 'Revoke an API key: refused by this process at once, by every API process within API_KEY_CACHE_MS',
      tag: 'admin',
      access: 'admin',
      responses: { '200': { description: 'Revoked', schema: 'ApiKey' }, '404': { description: 'Unknown key: API_KEY_NOT_FOUND', schema: 'Problem' }, ...problems },
      handler: async (req, res) => {
        res.json(await keys.revoke(req.params.keyId as string));
      },
    },
  ];
}

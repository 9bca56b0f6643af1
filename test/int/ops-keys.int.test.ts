/**
 * `npm run ops -- keys create|list|revoke` in its own process against the real PostgreSQL: the key
 * is printed once, by create; the table keeps only its HMAC; the API's key check (the same ApiKeys
 * over the same table) accepts it, and refuses it once revoked; list and errors never show a key.
 */
import { createHmac } from 'node:crypto';
import type { Pool } from 'pg';
import { ApiKeys } from '../../src/api/api-keys';
import { PgApiKeyStore } from '../../src/adapters/postgres/api-keys';
import { dropSchema } from '../../src/adapters/postgres/migrations';
import { createOwnerPool, quoteIdent } from '../../src/adapters/postgres/postgres';
import type { ApiKeyRecord } from '../../src/ports/api-keys';
import { testConfig, uniqueName } from '../support/env';
import { runOps } from '../support/ops';

const schema = uniqueName('ops_keys');
let pool: Pool;
const ops = (...args: string[]) => runOps(['--schema', schema, '--actor', 'cli:test', ...args]);
const KEY = /spk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}/;

beforeAll(() => {
  pool = createOwnerPool(testConfig, { max: 2 });
});
afterAll(async () => {
  await dropSchema(pool, schema);
  await pool.end();
});

test('create prints the key once and stores its HMAC; the API accepts it until revoke; list never shows a key', async () => {
  const ci = uniqueName('ci');
  const viewer = uniqueName('viewer');
  // The first run migrates the schema; the others start after it so they do not race its creation.
  const created = await ops('--json', 'keys', 'create', '--name', ci, '--role', 'writer', '--db', 'library,crm');
  expect([created.code, created.stderr]).toEqual([0, '']);
  const { key, ...record } = JSON.parse(created.stdout) as ApiKeyRecord & { key: string };
  expect(key).toMatch(new RegExp(`^${KEY.source}$`));
  expect(record).toMatchObject({ name: ci, role: 'writer', databases: ['crm', 'library'], created_by: 'cli:test', revoked_at: null });

  const [text, badRole, unknown, taken] = await Promise.all([
    ops('keys', 'create', '--name', viewer, '--role', 'reader'),
    ops('keys', 'create', '--name', uniqueName('bad'), '--role', 'root'),
    ops('keys', 'revoke', '0123456789ab'),
    ops('keys', 'create', '--name', ci, '--role', 'admin'),
  ]);
  // Text output: the key alone on the first line, for `| head -1`.
  expect(text.code).toBe(0);
  const viewerKey = text.stdout.split('\n')[0];
  expect(viewerKey).toMatch(new RegExp(`^${KEY.source}$`));
  expect(text.stdout).toContain('shown once');
  expect(badRole.code).toBe(1);
  expect(badRole.stderr).toContain("'root' is invalid");
  expect([unknown.code, unknown.stderr]).toEqual([1, "ops: no API key '0123456789ab'\n"]);
  expect(taken.code).toBe(1);
  expect(taken.stderr).toMatch(/^ops: [^\n]+\n$/);

  // Only the HMAC under API_KEY_SECRET is kept: no column holds the key.
  const rows = (await pool.query(`SELECT * FROM ${quoteIdent(schema)}.api_keys ORDER BY name`)).rows as Array<Record<string, unknown>>;
  expect(rows.map((r) => r.name).sort()).toEqual([ci, viewer].sort());
  const row = rows.find((r) => r.key_id === record.key_id)!;
  expect(row.hash).toBe(createHmac('sha256', testConfig.API_KEY_SECRET).update(key).digest('hex'));
  expect(JSON.stringify(rows)).not.toMatch(KEY);

  // The API's check: the same ApiKeys over the same table.
  const api = new ApiKeys({ store: new PgApiKeyStore(pool, schema), secret: testConfig.API_KEY_SECRET, cacheMs: 0 });
  expect(await api.authenticate(key)).toMatchObject({ name: ci, role: 'writer', databases: ['crm', 'library'], actor: `key:${ci}` });
  expect(await api.authenticate(viewerKey)).toMatchObject({ name: viewer, role: 'reader', databases: null });

  const revoked = await ops('--json', 'keys', 'revoke', record.key_id);
  expect(revoked.code).toBe(0);
  expect(JSON.parse(revoked.stdout)).toMatchObject({ key_id: record.key_id, name: ci, revoked_at: expect.any(String) });
  expect(await api.authenticate(key)).toBeNull();
  expect(await api.authenticate(viewerKey)).not.toBeNull();

  const [listed, listedText] = await Promise.all([ops('--json', 'keys', 'list'), ops('keys', 'list')]);
  expect(listed.code).toBe(0);
  const list = JSON.parse(listed.stdout) as ApiKeyRecord[];
  expect(list.map((k) => [k.name, k.revoked_at !== null]).sort()).toEqual(
    [
      [ci, true],
      [viewer, false],
    ].sort(),
  );
  expect(listedText.stdout).toContain(`${record.key_id}  ${ci}`);
  for (const out of [listed, listedText, revoked, unknown, taken]) expect(out.stdout + out.stderr).not.toMatch(KEY);
}, 240_000);

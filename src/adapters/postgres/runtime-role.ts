/**
 * The runtime role's privileges (README "Least privilege"). The processes read and write rows as a
 * role that owns nothing, so it cannot drop, alter or truncate a table, nor create one; the owner
 * (DATABASE_OWNER_URL) migrates and grants. Default privileges make every table, sequence and
 * schema the owner creates later (a rebuild's scratch schema, a test's own schema) the runtime
 * role's as well, with no grant per schema; the explicit grants cover what the owner created before
 * (a deployment that ran as one role until now).
 */
import type { Pool } from 'pg';
import { quoteIdent, withTransaction, type Queryable } from './postgres';
import { lockSchemaCatalog } from './migrations';

const TABLE_PRIVILEGES = 'SELECT, INSERT, UPDATE, DELETE';
const SEQUENCE_PRIVILEGES = 'USAGE, SELECT';

/** The SQL the owner runs: database-wide default privileges, then the objects of `schemas` that exist already. */
function runtimeGrantsSql(runtimeRole: string, schemas: readonly string[]): string[] {
  const to = quoteIdent(runtimeRole);
  return [
    `ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO ${to}`,
    `ALTER DEFAULT PRIVILEGES GRANT ${TABLE_PRIVILEGES} ON TABLES TO ${to}`,
    `ALTER DEFAULT PRIVILEGES GRANT ${SEQUENCE_PRIVILEGES} ON SEQUENCES TO ${to}`,
    ...schemas.flatMap((schema) => {
      const s = quoteIdent(schema);
      return [`GRANT USAGE ON SCHEMA ${s} TO ${to}`, `GRANT ${TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA ${s} TO ${to}`, `GRANT ${SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA ${s} TO ${to}`];
    }),
  ];
}

/**
 * Grants the runtime pool's role what it needs on whatever the owner creates from now on, and on the
 * objects `schemas` hold already; nothing when both pools log in as the same role. Run it before
 * migrating, so the tables a migration creates are the runtime role's at once. Serialised across
 * processes: two starting together would otherwise update the same catalog rows at once ("tuple
 * concurrently updated"). Returns the runtime role.
 */
export async function grantToRuntimeRole(owner: Pool, runtime: Queryable, schemas: readonly string[]): Promise<string> {
  const role = (await runtime.query<{ role: string }>('SELECT current_user AS role')).rows[0].role;
  await withTransaction(owner, async (client) => {
    if ((await client.query<{ role: string }>('SELECT current_user AS role')).rows[0].role === role) return;
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('spice-oms:runtime-grants'))`);
    // Not while a migration changes the same schema's catalog (another process's start: "tuple concurrently updated").
    for (const schema of [...new Set(schemas)].sort()) await lockSchemaCatalog(client, schema);
    // A schema the role may use already was granted with its tables, or made under the default privileges: left
    // alone, so a start never rewrites the catalog rows of tables another process's migration may be altering.
    const { rows } = await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[]) AND NOT has_schema_privilege($2, oid, 'USAGE')`, [schemas, role]);
    const ungranted = rows.map((r) => r.nspname);
    for (const sql of runtimeGrantsSql(role, ungranted)) await client.query(sql);
  });
  return role;
}

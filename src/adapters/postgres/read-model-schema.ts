/**
 * The read-model tables and their migrations. They live in their own schema (not the ledger's):
 * a rebuild migrates a fresh schema next to the live one, and dropping it never touches delivery
 * state. Every timestamp comes from an event's occurred_at, never from now(), so a rebuild from
 * the same events produces byte-identical rows.
 */
import type { Pool } from 'pg';
import { quoteIdent, SEARCH_MAX_CHARS_SETTING } from './postgres';
import { Migration, MigrateResult, runMigrations } from './migrations';

export const DEFAULT_READ_MODEL_SCHEMA = 'read_models';

export type ReadModelMigration = Migration;

export const READ_MODEL_MIGRATIONS: readonly ReadModelMigration[] = [
  {
    version: 1,
    name: 'read_models',
    sql: (s) => `
      CREATE TABLE ${s}.stream_positions (
        aggregate_type text    NOT NULL,
        aggregate_id   text    NOT NULL,
        version        integer NOT NULL CHECK (version >= 0),
        PRIMARY KEY (aggregate_type, aggregate_id)
      );

      -- A deleted database stays as a tombstone (deleted_at kept across a re-creation).
      CREATE TABLE ${s}.databases (
        name        text        PRIMARY KEY,
        description text,
        status      text        NOT NULL CHECK (status IN ('active', 'deleted')),
        version     integer     NOT NULL,
        created_at  timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL,
        deleted_at  timestamptz
      );

      CREATE TABLE ${s}.classes (
        db_name      text        NOT NULL,
        class_id     text        NOT NULL,
        label        text        NOT NULL,
        description  text,
        parent_class text,
        abstract     boolean     NOT NULL,
        definition   jsonb       NOT NULL,
        version      integer     NOT NULL,
        created_at   timestamptz NOT NULL,
        updated_at   timestamptz NOT NULL,
        PRIMARY KEY (db_name, class_id)
      );

      -- Deleted instances stay as tombstones (deleted = true, data cleared) so instanceRefs can
      -- say "deleted" and the row keeps the stream version a later re-creation continues from.
      -- batch_*: the bulk event that created the instance; its own stream starts empty (version 0).
      CREATE TABLE ${s}.instances (
        db_name            text        NOT NULL,
        instance_id        text        NOT NULL,
        class_id           text        NOT NULL,
        properties         jsonb       NOT NULL,
        relationships      jsonb       NOT NULL,
        version            integer     NOT NULL,
        deleted            boolean     NOT NULL DEFAULT false,
        batch_aggregate_id text,
        batch_version      integer,
        created_at         timestamptz NOT NULL,
        updated_at         timestamptz NOT NULL,
        search             tsvector    GENERATED ALWAYS AS (jsonb_to_tsvector('simple'::regconfig, properties, '["string"]'::jsonb)) STORED,
        PRIMARY KEY (db_name, instance_id)
      );
      CREATE INDEX instances_class_idx ON ${s}.instances (db_name, class_id, instance_id) WHERE NOT deleted;
      CREATE INDEX instances_properties_idx ON ${s}.instances USING gin (properties jsonb_path_ops);
      CREATE INDEX instances_search_idx ON ${s}.instances USING gin (search);

      CREATE TABLE ${s}.edges (
        db_name   text NOT NULL,
        from_id   text NOT NULL,
        predicate text NOT NULL,
        to_id     text NOT NULL,
        PRIMARY KEY (db_name, from_id, predicate, to_id)
      );
      CREATE INDEX edges_incoming_idx ON ${s}.edges (db_name, to_id, predicate, from_id);
    `,
  },
  {
    version: 2,
    name: 'database_incarnation',
    // The life of the database the row describes (the version of its last DATABASE_CREATED): only
    // events of that life are projected. A database stream alternates created and deleted, so
    // existing rows get theirs from their version.
    sql: (s) => `
      ALTER TABLE ${s}.databases ADD COLUMN incarnation integer;
      UPDATE ${s}.databases SET incarnation = CASE WHEN status = 'active' THEN version ELSE version - 1 END;
      ALTER TABLE ${s}.databases ALTER COLUMN incarnation SET NOT NULL,
        ADD CONSTRAINT databases_incarnation_check CHECK (incarnation >= 1);
    `,
  },
  {
    version: 3,
    name: 'bounded_search_index',
    // PostgreSQL caps a tsvector at 1 MB, so the generated column failed every write of an instance
    // with a long text. The trigger indexes a bounded prefix instead: string values shortest first
    // (a short title is never crowded out by a long body), each cut to the limit, the whole cut
    // again. The limit is the session setting SEARCH_MAX_CHARS_SETTING (SEARCH_INDEX_MAX_CHARS,
    // set on every connection of the pool), 100,000 characters without it.
    sql: (s) => `
      CREATE FUNCTION ${s}.search_text(properties jsonb, max_chars integer) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$
          SELECT left(coalesce(string_agg(left(v, max_chars), ' ' ORDER BY length(v), v), ''), max_chars)
            FROM (SELECT t #>> '{}' AS v FROM jsonb_path_query(properties, 'strict $.** ? (@.type() == "string")') AS t) AS strings
        $f$;
      CREATE FUNCTION ${s}.instances_search() RETURNS trigger LANGUAGE plpgsql AS $f$
        BEGIN
          NEW.search := to_tsvector('simple'::regconfig, ${s}.search_text(NEW.properties,
            coalesce(nullif(current_setting('${SEARCH_MAX_CHARS_SETTING}', true), '')::integer, 100000)));
          RETURN NEW;
        END
      $f$;
      ALTER TABLE ${s}.instances DROP COLUMN search;
      ALTER TABLE ${s}.instances ADD COLUMN search tsvector;
      CREATE TRIGGER instances_search BEFORE INSERT OR UPDATE OF properties ON ${s}.instances
        FOR EACH ROW EXECUTE FUNCTION ${s}.instances_search();
      UPDATE ${s}.instances SET properties = properties;
      CREATE INDEX instances_search_idx ON ${s}.instances USING gin (search);
    `,
  },
  {
    version: 4,
    name: 'schema_free_search_trigger',
    // A blue/green rebuild renames the rebuilt schema to the live name: the trigger must not name
    // its schema, so it keeps working under any name (the body of search_text, inlined).
    sql: (s) => `
      CREATE OR REPLACE FUNCTION ${s}.instances_search() RETURNS trigger LANGUAGE plpgsql AS $f$
        DECLARE max_chars integer := coalesce(nullif(current_setting('${SEARCH_MAX_CHARS_SETTING}', true), '')::integer, 100000);
        BEGIN
          NEW.search := to_tsvector('simple'::regconfig, (
            SELECT left(coalesce(string_agg(left(v, max_chars), ' ' ORDER BY length(v), v), ''), max_chars)
              FROM (SELECT t #>> '{}' AS v FROM jsonb_path_query(NEW.properties, 'strict $.** ? (@.type() == "string")') AS t) AS strings));
          RETURN NEW;
        END
      $f$;
    `,
  },
];

/**
 * The transaction-scoped advisory lock that orders projections of a read-model schema against a
 * blue/green switch: every projection holds it shared, the switch exclusively (read-model-rebuild.ts).
 */
export const switchLockSql = (mode: 'shared' | 'exclusive'): string =>
  `SELECT ${mode === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock'}(hashtext('spice-oms:read-models:switch:' || $1))`;

/** Tables and their keys, as compareReadModels walks them; derived columns (search) are left out. */
export const READ_MODEL_TABLES: ReadonlyArray<{ name: string; key: readonly string[]; exclude: readonly string[] }> = [
  { name: 'databases', key: ['name'], exclude: [] },
  { name: 'classes', key: ['db_name', 'class_id'], exclude: [] },
  { name: 'instances', key: ['db_name', 'instance_id'], exclude: ['search'] },
  { name: 'edges', key: ['db_name', 'from_id', 'predicate', 'to_id'], exclude: [] },
  { name: 'stream_positions', key: ['aggregate_type', 'aggregate_id'], exclude: [] },
];

export type ReadModelMigrateResult = MigrateResult;

export function migrateReadModels(pool: Pool, schema: string = DEFAULT_READ_MODEL_SCHEMA, migrations: readonly ReadModelMigration[] = READ_MODEL_MIGRATIONS): Promise<ReadModelMigrateResult> {
  return runMigrations(pool, schema, { table: 'read_model_migrations', lockName: 'spice-oms:read-models:migrate:', migrations });
}

export async function dropReadModels(pool: Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
}

/**
 * The storage mode in PostgreSQL: one state row (seeded from ENABLE_S3_EVENT_STORE /
 * ENABLE_DUAL_WRITE on first start), an audit row per switch request (granted, forced or refused),
 * and the last run of each migration step. A switch is one transaction: its preconditions are
 * checked on the row it locks, so two operators switching at once cannot both pass on stale state.
 */
import type { Pool, PoolClient } from 'pg';
import type { StorageMode } from '../../contracts/storage-mode';
import { flagsAfterRun, flagsAfterSwitch, MigrationRun, StorageModeState, SwitchRequest, switchPreconditions } from '../../contracts/storage-mode';
import type { MigrationKind, StorageModeRecord } from '../../ports/migration';
import { Migration, runMigrations } from './migrations';
import { quoteIdent, withTransaction } from './postgres';

const MODE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'storage_mode',
    sql: (s) => `
      CREATE TABLE ${s}.storage_mode (
        singleton         boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        mode              text NOT NULL CHECK (mode IN ('legacy', 'dual_write', 's3_only')),
        previous_mode     text CHECK (previous_mode IN ('legacy', 'dual_write', 's3_only')),
        epoch             integer NOT NULL DEFAULT 1,
        changed_at        timestamptz NOT NULL DEFAULT now(),
        effective_at      timestamptz NOT NULL DEFAULT now(),
        changed_by        text NOT NULL,
        reason            text NOT NULL,
        legacy_may_lead   boolean NOT NULL,
        s3_may_lead       boolean NOT NULL,
        last_backfill     jsonb,
        last_verify       jsonb,
        last_reverse_sync jsonb
      );
      CREATE TABLE ${s}.storage_mode_audit (
        id         bigserial PRIMARY KEY,
        at         timestamptz NOT NULL DEFAULT now(),
        actor      text NOT NULL,
        from_mode  text NOT NULL,
        to_mode    text NOT NULL,
        reason     text NOT NULL,
        outcome    text NOT NULL CHECK (outcome IN ('switched', 'forced', 'refused')),
        unmet      jsonb NOT NULL DEFAULT '[]',
        epoch      integer NOT NULL
      );`,
  },
];

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  from_mode: StorageMode;
  to_mode: StorageMode;
  reason: string;
  outcome: 'switched' | 'forced' | 'refused';
  unmet: string[];
  epoch: number;
}

export interface SwitchOutcome {
  outcome: AuditEntry['outcome'];
  unmet: string[];
  state: StorageModeState;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a pg row: its columns are typed by toState
type DbRow = Record<string, any>;

const iso = (d: Date | string) => new Date(d).toISOString();

function toState(r: DbRow): StorageModeState {
  return {
    mode: r.mode,
    previous_mode: r.previous_mode,
    epoch: r.epoch,
    changed_at: iso(r.changed_at),
    effective_at: iso(r.effective_at),
    changed_by: r.changed_by,
    reason: r.reason,
    legacy_may_lead: r.legacy_may_lead,
    s3_may_lead: r.s3_may_lead,
    last_backfill: r.last_backfill,
    last_verify: r.last_verify,
    last_reverse_sync: r.last_reverse_sync,
  };
}

export class PgStorageModeRepository implements StorageModeRecord {
  private readonly table: string;
  private readonly audit: string;
  private readonly legacyEvents: string;

  constructor(
    private readonly pool: Pool,
    private readonly schema: string,
  ) {
    this.table = `${quoteIdent(schema)}.storage_mode`;
    this.audit = `${quoteIdent(schema)}.storage_mode_audit`;
    this.legacyEvents = `${quoteIdent(schema)}.legacy_events`;
  }

  /**
   * Creates the tables and seeds the mode on first start. The table leads S3 when seeded legacy or
   * when it holds events (S3 catches up on touch until a clean backfill); S3 leads the table when
   * seeded s3_only. `owner` runs the migrations (the runtime role may not create tables).
   */
  async init(seed: StorageMode, owner: Pool = this.pool): Promise<StorageModeState> {
    await runMigrations(owner, this.schema, { table: 'storage_mode_migrations', lockName: 'spice-oms:storage-mode:', migrations: MODE_MIGRATIONS });
    await this.pool.query(
      `INSERT INTO ${this.table} (mode, changed_by, reason, legacy_may_lead, s3_may_lead)
       SELECT $1, 'config', 'seeded from ENABLE_S3_EVENT_STORE / ENABLE_DUAL_WRITE', $1 = 'legacy' OR EXISTS (SELECT 1 FROM ${this.legacyEvents}), $1 = 's3_only'
       ON CONFLICT (singleton) DO NOTHING`,
      [seed],
    );
    return this.read();
  }

  async read(db: Pick<Pool, 'query'> = this.pool): Promise<StorageModeState> {
    const { rows } = await db.query(`SELECT * FROM ${this.table}`);
    if (!rows[0]) throw new Error('the storage mode is not initialised');
    return toState(rows[0]);
  }

  /** Milliseconds until new commands get the mode in force (0 when they do), by PostgreSQL's clock. */
  async readWithDelay(): Promise<{ state: StorageModeState; pendingMs: number }> {
    const { rows } = await this.pool.query(`SELECT *, greatest(0, extract(epoch FROM effective_at - now()) * 1000)::float8 AS pending_ms FROM ${this.table}`);
    if (!rows[0]) throw new Error('the storage mode is not initialised');
    return { state: toState(rows[0]), pendingMs: Number(rows[0].pending_ms) };
  }

  /**
   * Switches when the preconditions hold or `force` is set; every request is audited, a refused one
   * too. `propagationMs`: how long new commands keep the previous mode, so that every process has
   * seen the switch (and its flags) before the first command of the new mode starts.
   */
  async switchMode(req: SwitchRequest, propagationMs: number): Promise<SwitchOutcome> {
    return withTransaction(this.pool, async (client) => {
      const state = toState((await client.query(`SELECT * FROM ${this.table} FOR UPDATE`)).rows[0]);
      const unmet = switchPreconditions(state, req.to);
      const same = state.mode === req.to;
      const outcome: AuditEntry['outcome'] = unmet.length === 0 ? 'switched' : req.force && !same ? 'forced' : 'refused';
      let next = state;
      if (outcome !== 'refused') {
        const flags = flagsAfterSwitch(state, req.to);
        const { rows } = await client.query(
          `UPDATE ${this.table} SET mode = $1, previous_mode = mode, epoch = epoch + 1, changed_at = now(),
             effective_at = now() + make_interval(secs => $2::float8 / 1000), changed_by = $3, reason = $4,
             legacy_may_lead = $5, s3_may_lead = $6
           RETURNING *`,
          [req.to, propagationMs, req.actor, req.reason, flags.legacy_may_lead, flags.s3_may_lead],
        );
        next = toState(rows[0]);
      }
      await this.writeAudit(client, { actor: req.actor, from: state.mode, to: req.to, reason: req.reason, outcome, unmet, epoch: next.epoch });
      return { outcome, unmet, state: next };
    });
  }

  private async writeAudit(client: PoolClient, a: { actor: string; from: StorageMode; to: StorageMode; reason: string; outcome: string; unmet: string[]; epoch: number }) {
    await client.query(`INSERT INTO ${this.audit} (actor, from_mode, to_mode, reason, outcome, unmet, epoch) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)`, [
      a.actor,
      a.from,
      a.to,
      a.reason,
      a.outcome,
      JSON.stringify(a.unmet),
      a.epoch,
    ]);
  }

  async auditLog(limit = 50): Promise<AuditEntry[]> {
    const { rows } = await this.pool.query(`SELECT * FROM ${this.audit} ORDER BY id DESC LIMIT $1`, [limit]);
    return rows.map((r) => ({ ...r, id: Number(r.id), at: iso(r.at) }) as AuditEntry);
  }

  /** Records a completed migration run; a clean backfill or reverse sync clears its "may lead" flag. */
  async recordRun(kind: MigrationKind, run: MigrationRun): Promise<StorageModeState> {
    return withTransaction(this.pool, async (client) => {
      const state = toState((await client.query(`SELECT * FROM ${this.table} FOR UPDATE`)).rows[0]);
      const flags = kind === 'verify' ? state : flagsAfterRun(state, kind, run);
      const { rows } = await client.query(`UPDATE ${this.table} SET last_${kind} = $1::jsonb, legacy_may_lead = $2, s3_may_lead = $3 RETURNING *`, [
        JSON.stringify(run),
        flags.legacy_may_lead,
        flags.s3_may_lead,
      ]);
      return toState(rows[0]);
    });
  }
}

/**
 * What an operator does to move the event store, shared by the admin endpoints and the ops CLI:
 * read and switch the storage mode (audited, with preconditions, forced if need be), and start,
 * follow, pause and resume the migration workflows on the command task queue.
 */
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import type { StorageMode } from '../contracts/storage-mode';
import type { AuditEntry, PgStorageModeRepository, SwitchOutcome } from '../adapters/postgres/storage-mode-repository';
import type { StorageModeState, SwitchRequest, VerifyTarget } from '../contracts/storage-mode';
import { MigrationInput, MigrationKindName, MigrationProgress, migrationProgressQuery, migrationWorkflowId, pauseSignal, resumeSignal } from '../workflows/migration';

export class StorageModeSwitchRefused extends Error {
  readonly code = 'STORAGE_MODE_PRECONDITION_FAILED';
  constructor(
    readonly to: StorageMode,
    readonly outcome: SwitchOutcome,
  ) {
    super(`switch from ${outcome.state.mode} to ${to} refused: ${outcome.unmet.join('; ')} (--force overrides, audited)`);
  }
}

export interface ModeView {
  state: StorageModeState;
  /** The propagation bound: new commands get a switched mode this long after the switch. */
  propagation_ms: number;
  audit: AuditEntry[];
}

const WORKFLOW_OF: Record<MigrationKindName, string> = { backfill: 'backfillToS3', reverse_sync: 'reverseSyncToLegacy', verify: 'verifyStores' };
/** The mode whose commands write the store a run copies from: none of them may be running for a clean start. */
const SOURCE_MODE: Record<MigrationKindName, StorageMode | undefined> = { backfill: 'legacy', reverse_sync: 's3_only', verify: undefined };

export interface MigrationStatus {
  workflow_id: string;
  status: string;
  /** Whether the run may clear its source store's "may lead" flag (see cleanStart). */
  clean_start?: boolean;
  progress?: MigrationProgress;
}

export class MigrationOps {
  constructor(
    private readonly o: {
      modes: PgStorageModeRepository;
      client: Client;
      taskQueue: string;
      /** 2 x the mode cache's refresh interval: see StorageModeCache. */
      propagationMs: number;
    },
  ) {}

  async getMode(): Promise<ModeView> {
    const [state, audit] = await Promise.all([this.o.modes.read(), this.o.modes.auditLog(20)]);
    return { state, propagation_ms: this.o.propagationMs, audit };
  }

  /** Switches, or throws StorageModeSwitchRefused (audited either way). */
  async setMode(req: SwitchRequest): Promise<SwitchOutcome> {
    const outcome = await this.o.modes.switchMode(req, this.o.propagationMs);
    if (outcome.outcome === 'refused') throw new StorageModeSwitchRefused(req.to, outcome);
    return outcome;
  }

  /** Commands of a mode still running on the task queue (Temporal visibility). */
  async runningCommands(mode: StorageMode): Promise<number> {
    const { count } = await this.o.client.workflow.count(
      `WorkflowType = 'processCommand' AND ExecutionStatus = 'Running' AND StorageMode = '${mode}' AND TaskQueue = '${this.o.taskQueue.replace(/'/g, '')}'`,
    );
    return count;
  }

  /**
   * True once no command of the mode that writes the run's source store alone is running and the
   * mode in force is another one (waits up to drainMs for the last of them): a run that starts then
   * may clear that store's "may lead" flag when it completes.
   */
  private async cleanStart(kind: MigrationKindName, drainMs: number): Promise<boolean> {
    const source = SOURCE_MODE[kind];
    if (source === undefined) return true;
    const deadline = Date.now() + drainMs;
    for (;;) {
      const state = await this.o.modes.read();
      if (state.mode === source) return false;
      const effective = Date.now() >= Date.parse(state.effective_at);
      if (effective && (await this.runningCommands(source)) === 0) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Starts a run (or joins the one running), after waiting up to drainMs for a clean start (see cleanStart). */
  async start(kind: MigrationKindName, o: { events_per_second?: number; chunk_size?: number; concurrency?: number; target?: VerifyTarget; drainMs?: number } = {}): Promise<MigrationStatus> {
    const { drainMs = 60_000, ...rest } = o;
    const clean = await this.cleanStart(kind, drainMs);
    const input: MigrationInput = { ...rest, clean_start: clean };
    const handle = await this.o.client.workflow.start(WORKFLOW_OF[kind], {
      taskQueue: this.o.taskQueue,
      workflowId: migrationWorkflowId(kind, this.o.taskQueue),
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    });
    return { workflow_id: handle.workflowId, status: 'RUNNING', clean_start: clean };
  }

  async status(kind: MigrationKindName): Promise<MigrationStatus | undefined> {
    const handle = this.o.client.workflow.getHandle(migrationWorkflowId(kind, this.o.taskQueue));
    try {
      const d = await handle.describe();
      const progress = d.status.name === 'RUNNING' ? await handle.query(migrationProgressQuery) : d.status.name === 'COMPLETED' ? ((await handle.result()) as MigrationProgress) : undefined;
      return { workflow_id: handle.workflowId, status: d.status.name, progress };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  async pause(kind: MigrationKindName): Promise<void> {
    await this.o.client.workflow.getHandle(migrationWorkflowId(kind, this.o.taskQueue)).signal(pauseSignal);
  }

  async resume(kind: MigrationKindName): Promise<void> {
    await this.o.client.workflow.getHandle(migrationWorkflowId(kind, this.o.taskQueue)).signal(resumeSignal);
  }

  /** The run's outcome once it completes (follows continue-as-new). */
  async result(kind: MigrationKindName): Promise<MigrationProgress> {
    return (await this.o.client.workflow.getHandle(migrationWorkflowId(kind, this.o.taskQueue)).result()) as MigrationProgress;
  }
}

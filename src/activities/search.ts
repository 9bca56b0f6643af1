/**
 * Activities of the search index's maintenance: moving a database to a new index generation
 * (reindex after a mapping change, rebuild from the event store) step by step, so the workflow
 * shows progress and resumes where a worker stopped; and the reconciliation sweep that
 * re-projects documents behind their stream version.
 */
import { Context } from '@temporalio/activity';
import type { CopyPage, GenerationPlan, IndexComparison } from '../contracts/search';
import type { CheckpointStore } from '../ports/checkpoints';
import type { InstanceState, SearchGenerationsPort, SearchProjector } from '../ports/search';
import { withFailureMapping } from './failures';

export interface SearchMaintenanceDeps {
  generations: SearchGenerationsPort;
  projector: SearchProjector;
  /** The read models' instances in key order (the sweep's source of truth for versions). */
  instanceStates: { page(after: [string, string] | null, limit: number): Promise<{ rows: InstanceState[]; next: [string, string] | null }> };
  checkpoints: CheckpointStore;
  /** Reindex requests recorded by the projection. */
  reindexRequests: {
    pendingReindexes(): Promise<Array<{ db: string; requested_at: number }>>;
    clearReindex(db: string, startedAt: number): Promise<void>;
    alias(db: string): string;
  };
}

const SWEEP = 'search-sweep';

/** Without a search engine (SEARCH_ENGINE=postgres) the reconciliation's search steps find nothing to do. */
export function createSearchActivities(deps: SearchMaintenanceDeps | undefined) {
  const need = (): SearchMaintenanceDeps => {
    if (deps === undefined) throw new Error('no search engine is configured (SEARCH_ENGINE=postgres)');
    return deps;
  };
  return withFailureMapping({
    async searchBeginGeneration(a: { db: string }): Promise<(GenerationPlan & { total: number; started_at: number }) | null> {
      const startedAt = Date.now();
      const g = need().generations;
      const plan = await g.begin(a.db);
      return plan === null ? null : { ...plan, total: await g.count(plan.source), started_at: startedAt };
    },
    async searchBeginAllGenerations(): Promise<GenerationPlan[]> {
      return need().generations.beginAll();
    },
    async searchCopyPage(a: { plan: GenerationPlan; after: string | null; size?: number }): Promise<CopyPage> {
      const page = await need().generations.copyPage(a.plan, a.after, a.size ?? 1000);
      Context.current().heartbeat(page.next);
      return page;
    },
    async searchCompare(a: { plan: GenerationPlan }): Promise<IndexComparison> {
      return need().generations.compare(a.plan);
    },
    async searchSwitch(a: { plan: GenerationPlan }): Promise<void> {
      await need().generations.switchTo(a.plan);
    },
    async searchDropOlder(a: { plan: GenerationPlan; started_at?: number }): Promise<string[]> {
      const dropped = await need().generations.dropOlder(a.plan);
      if (a.started_at !== undefined) await need().reindexRequests.clearReindex(a.plan.db, a.started_at);
      return dropped;
    },
    async searchAbandon(a: { plan: GenerationPlan }): Promise<void> {
      await need().generations.abandon(a.plan);
    },
    /** Databases waiting for a reindex, each with the name its workflow id is made of (its alias: unique per index prefix). */
    async searchPendingReindexes(): Promise<Array<{ db: string; alias: string }>> {
      if (deps === undefined) return [];
      return (await deps.reindexRequests.pendingReindexes()).map((r) => ({ db: r.db, alias: deps.reindexRequests.alias(r.db) }));
    },
    /**
     * One page of the sweep over every instance, from where the previous run stopped (back to
     * the start after the end): a document missing or behind its stream version is re-projected.
     */
    async searchReconcileSweep(a: { limit: number }): Promise<{ checked: number; reprojected: number; wrapped: boolean }> {
      if (deps === undefined) return { checked: 0, reprojected: 0, wrapped: true };
      const d = deps;
      const saved = await d.checkpoints.load(SWEEP);
      const after = saved ? (JSON.parse(saved) as [string, string]) : null;
      const page = await d.instanceStates.page(after, a.limit);
      const r = await d.projector.reconcile(page.rows);
      await d.checkpoints.save(SWEEP, page.next === null ? '' : JSON.stringify(page.next));
      return { ...r, wrapped: page.next === null };
    },
  });
}

export type SearchActivities = ReturnType<typeof createSearchActivities>;

/**
 * Activities of the search index's maintenance: moving a database to a new index generation
 * (reindex after a mapping change, rebuild from the event store), step by step so the workflow
 * shows progress and resumes where a worker stopped.
 */
import { Context } from '@temporalio/activity';
import type { CopyPage, GenerationPlan, IndexComparison } from '../contracts/search';
import type { SearchGenerationsPort } from '../ports/search';
import { withFailureMapping } from './failures';

export interface SearchMaintenanceDeps {
  generations: SearchGenerationsPort;
}

export function createSearchActivities(d: SearchMaintenanceDeps) {
  const g = d.generations;
  return withFailureMapping({
    async searchBeginGeneration(a: { db: string }): Promise<(GenerationPlan & { total: number }) | null> {
      const plan = await g.begin(a.db);
      return plan === null ? null : { ...plan, total: await g.count(plan.source) };
    },
    async searchBeginAllGenerations(): Promise<GenerationPlan[]> {
      return g.beginAll();
    },
    async searchCopyPage(a: { plan: GenerationPlan; after: string | null; size?: number }): Promise<CopyPage> {
      const page = await g.copyPage(a.plan, a.after, a.size ?? 1000);
      Context.current().heartbeat(page.next);
      return page;
    },
    async searchCompare(a: { plan: GenerationPlan }): Promise<IndexComparison> {
      return g.compare(a.plan);
    },
    async searchSwitch(a: { plan: GenerationPlan }): Promise<void> {
      await g.switchTo(a.plan);
    },
    async searchDropOlder(a: { plan: GenerationPlan }): Promise<string[]> {
      return g.dropOlder(a.plan);
    },
    async searchAbandon(a: { plan: GenerationPlan }): Promise<void> {
      await g.abandon(a.plan);
    },
  });
}

export type SearchActivities = ReturnType<typeof createSearchActivities>;

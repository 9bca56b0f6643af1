/**
 * Workflow tests (*.workflow.test.ts): a Temporal dev server of their own, started by
 * TestWorkflowEnvironment.createLocal from the CLI binary the stack installs, so they need no
 * running stack. (The Java time-skipping test server from Maven Central runs here, but takes ~7 s
 * to listen on this machine and the SDK gives it 5 s; no test here needs skipped time.)
 */
import fs from 'node:fs';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { stackPaths } from '../../scripts/stack/services';
import { testConfig, uniqueName } from './env';
import { workflowBundle } from './pipeline';

type ActivityFn = (...args: never[]) => Promise<unknown>;

/**
 * One server and one worker for a whole test file (a worker takes seconds to stop); each test
 * names the activities the worker runs for it with use().
 */
export class WorkflowTestBed {
  private constructor(
    private readonly current: { activities: Record<string, ActivityFn> },
    private readonly env: TestWorkflowEnvironment,
    private readonly worker: Worker,
    private readonly running: Promise<void>,
    readonly taskQueue: string,
  ) {}

  /** `activityNames`: every activity a test may give (the worker registers them up front). */
  static async start(activityNames: string[]): Promise<WorkflowTestBed> {
    const { temporalBin } = stackPaths(testConfig);
    if (!fs.existsSync(temporalBin)) throw new Error(`no Temporal CLI at ${temporalBin}: install it with npm run stack -- up`);
    const env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: temporalBin }, log: { format: 'json', level: 'error' } } });
    const taskQueue = uniqueName('wf');
    const current = { activities: {} as Record<string, ActivityFn> };
    const activities = Object.fromEntries(
      activityNames.map((name) => [
        name,
        (...args: never[]) => {
          const fn = current.activities[name];
          if (!fn) throw new Error(`the test gave no activity ${name}`);
          return fn(...args);
        },
      ]),
    );
    const worker = await Worker.create({ connection: env.nativeConnection, namespace: env.namespace ?? 'default', taskQueue, workflowBundle: await workflowBundle(), activities });
    return new WorkflowTestBed(current, env, worker, worker.run(), taskQueue);
  }

  get client(): Client {
    return this.env.client;
  }

  use(activities: object): void {
    this.current.activities = activities as Record<string, ActivityFn>;
  }

  async stop(): Promise<void> {
    this.worker.shutdown();
    await this.running;
    await this.env.teardown();
  }
}

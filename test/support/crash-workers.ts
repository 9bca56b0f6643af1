/**
 * Worker processes armed with crash points (src/lib/crash-points.ts) for the pipeline of a test whose
 * API runs in the test's process: each entry fires once across the pool (a state directory of its
 * own), and a worker that dies is replaced. The workflow code is bundled once for all of them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crashMarker, type CrashPoint } from '../../src/lib/crash-points';
import { type Pipeline, workflowBundle } from './pipeline';
import { startWorkerPool, type WorkerPool } from './worker-process';

export interface CrashWorkers {
  workers: WorkerPool;
  /** The entry `point@subject` fired (its marker is written just before the SIGKILL). */
  fired(point: CrashPoint, subject?: string): boolean;
  stop(): Promise<void>;
}

export async function startCrashWorkers(p: Pipeline, size: number, identity: string, entries: string[]): Promise<CrashWorkers> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spice-crash-'));
  const codePath = path.join(stateDir, 'workflow-bundle.js');
  fs.writeFileSync(codePath, (await workflowBundle()).code);
  const infra = p.api.infra;
  const workers = await startWorkerPool(
    size,
    { schema: infra.schema, readModelSchema: infra.readModelSchema, s3Prefix: p.prefix, topic: infra.topic, taskQueue: p.taskQueue, identity, workflowBundle: codePath },
    { SPICE_CRASH_POINTS: entries.join(','), SPICE_CRASH_STATE_DIR: stateDir },
  );
  return {
    workers,
    fired: (point, subject) => fs.existsSync(crashMarker(stateDir, point, subject)),
    async stop() {
      await workers.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

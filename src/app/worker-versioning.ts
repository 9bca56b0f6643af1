/**
 * Temporal Worker Versioning (README "Changing workflow code"): the deployment version a worker
 * declares, and what the operator runs to move new commands to a version. The workflows declare
 * their own behaviour (PINNED or AUTO_UPGRADE, src/workflows); a worker's default is PINNED.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { WorkerOptions } from '@temporalio/worker';
import type { Config } from './config';

type VersionSettings = Pick<Config, 'WORKER_VERSIONING' | 'WORKER_DEPLOYMENT_NAME' | 'WORKER_BUILD_ID' | 'SPICE_GIT_SHA'>;

const ROOT = path.join(__dirname, '..', '..');

/** The package version this code was built from. */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The checkout's short commit, when there is a git checkout (an image passes SPICE_GIT_SHA instead). */
export function gitShortSha(cwd = ROOT): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** WORKER_BUILD_ID, else "<package version>-<git sha>" (the version alone without a sha). */
export function workerBuildId(c: VersionSettings, sha: () => string | undefined = gitShortSha): string {
  if (c.WORKER_BUILD_ID !== undefined) return c.WORKER_BUILD_ID;
  const commit = c.SPICE_GIT_SHA && c.SPICE_GIT_SHA !== 'unknown' ? c.SPICE_GIT_SHA : sha();
  return commit ? `${packageVersion()}-${commit}` : packageVersion();
}

/**
 * With WORKER_VERSIONING=true the worker declares its deployment version and the server routes by
 * it; every workflow is PINNED: a command runs to its end on the version that started it (it lasts
 * seconds), so a new version's workflow code never replays an older version's history. Without
 * versioning the worker declares nothing: the server refuses a versioning behaviour from an
 * unversioned worker ("versioning behavior cannot be specified without deployment options being set
 * with versioned mode"), which is also why the workflows do not declare one in their own code.
 */
export function workerDeploymentOptions(c: VersionSettings, sha?: () => string | undefined): WorkerOptions['workerDeploymentOptions'] {
  if (!c.WORKER_VERSIONING) return undefined;
  return { version: { deploymentName: c.WORKER_DEPLOYMENT_NAME, buildId: workerBuildId(c, sha) }, useWorkerVersioning: true, defaultVersioningBehavior: 'PINNED' };
}

export interface DeploymentVersionView {
  build_id: string;
  status: string;
  drainage: string;
  created_at: string | null;
}

export interface DeploymentView {
  deployment: string;
  current: string | null;
  ramping: string | null;
  ramping_percentage: number;
  versions: DeploymentVersionView[];
}

const enumName = (e: Record<number, string>, v: number | null | undefined, prefix: string) => (e[v ?? 0] ?? String(v)).replace(prefix, '');
const isoOf = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => (t?.seconds != null ? new Date(Number(t.seconds) * 1000).toISOString() : null);

/** The deployment's versions and which one takes new commands. */
export async function describeDeployment(client: Client, deploymentName: string): Promise<DeploymentView> {
  const { workerDeploymentInfo: info } = await client.workflowService.describeWorkerDeployment({ namespace: client.options.namespace, deploymentName });
  const routing = info?.routingConfig;
  return {
    deployment: deploymentName,
    current: routing?.currentDeploymentVersion?.buildId ?? null,
    ramping: routing?.rampingDeploymentVersion?.buildId ?? null,
    ramping_percentage: routing?.rampingVersionPercentage ?? 0,
    versions: (info?.versionSummaries ?? []).map((v) => ({
      build_id: v.deploymentVersion?.buildId ?? '',
      status: enumName(temporal.api.enums.v1.WorkerDeploymentVersionStatus, v.status, 'WORKER_DEPLOYMENT_VERSION_STATUS_'),
      drainage: enumName(temporal.api.enums.v1.VersionDrainageStatus, v.drainageStatus, 'VERSION_DRAINAGE_STATUS_'),
      created_at: isoOf(v.createTime),
    })),
  };
}

/** Moves new commands to buildId; returns the build id that had them before (null: unversioned workers). */
export async function setCurrentVersion(client: Client, deploymentName: string, buildId: string, identity: string): Promise<{ previous: string | null }> {
  const r = await client.workflowService.setWorkerDeploymentCurrentVersion({ namespace: client.options.namespace, deploymentName, buildId, identity });
  return { previous: r.previousDeploymentVersion?.buildId ?? null };
}

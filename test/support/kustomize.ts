/**
 * kustomize for the manifest tests: built once from the Go module proxy into the stack's cache
 * directory, like the stack's services (v5.7.1: newer releases need a newer Go than the machine's).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/app/config';
import { goEnv, stackPaths } from '../../scripts/stack/services';
import { run } from '../../scripts/stack/proc';
import { ROOT } from './deploy-files';

export const KUSTOMIZE_VERSION = 'v5.7.1';

export async function ensureKustomize(): Promise<string> {
  const p = stackPaths(loadConfig());
  const bin = path.join(p.cache, 'bin', `kustomize-${KUSTOMIZE_VERSION}`, 'kustomize');
  if (!fs.existsSync(bin)) {
    await run('go', ['install', `sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}`], {
      env: goEnv(p, path.dirname(bin)),
      logFile: path.join(p.logs, 'kustomize-install.log'),
      service: 'kustomize',
    });
  }
  return bin;
}

/** `kustomize build deploy/k8s/<dir>` as text. */
export function kustomizeBuild(bin: string, dir: string): string {
  return execFileSync(bin, ['build', path.join(ROOT, 'deploy', 'k8s', dir)], { encoding: 'utf8' });
}

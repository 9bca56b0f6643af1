/**
 * Drops the OpenSearch indices this run's tests created (each file names its indices after a
 * uniqueName token, listed in SPICE_TEST_NAMES_FILE), so runs do not pile indices up in the
 * stack's node. Only this run's: other runs on the same stack may still be using theirs.
 */
import { readFileSync, rmSync } from 'node:fs';
import { loadConfig } from '../../src/app/config';

export default async function globalTeardown(): Promise<void> {
  const file = process.env.SPICE_TEST_NAMES_FILE;
  if (!file) return;
  let tokens: string[];
  try {
    tokens = [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
  } catch {
    return;
  }
  rmSync(file, { force: true });
  const cfg = loadConfig();
  if (cfg.SEARCH_ENGINE !== 'opensearch' || tokens.length === 0) return;
  try {
    const res = await fetch(`${cfg.opensearchUrl}/_cat/indices/${cfg.OPENSEARCH_INDEX_PREFIX}*?h=index&format=json`, { signal: AbortSignal.timeout(10_000) });
    const indices = ((await res.json()) as Array<{ index: string }>).map((i) => i.index);
    // Test names reach index names lowercased and with '-' as '_'.
    const ours = new Set(tokens.flatMap((t) => [t, t.replace(/-/g, '_')]));
    const drop = indices.filter((name) => [...name.matchAll(/[a-z0-9]{8}[-_][0-9a-f]{6}/g)].some((m) => ours.has(m[0])));
    for (let i = 0; i < drop.length; i += 50) {
      await fetch(`${cfg.opensearchUrl}/${drop.slice(i, i + 50).join(',')}?ignore_unavailable=true`, { method: 'DELETE', signal: AbortSignal.timeout(30_000) });
    }
  } catch (err) {
    // Cleanup only: a run's result does not depend on it.
    console.warn(`global teardown: could not drop this run's OpenSearch indices: ${(err as Error).message}`);
  }
}

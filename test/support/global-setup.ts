/**
 * Integration and end-to-end tests run against the real stack. Fail fast, with the command that
 * fixes it, when a service is down instead of letting each test time out on its own.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/app/config';

const open = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(1000, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

export default async function globalSetup(globalConfig: { testPathPattern?: string }): Promise<void> {
  // Unit and workflow tests bring what they need (workflow tests start a Temporal dev server of their own).
  if (/unit|workflow/.test(globalConfig.testPathPattern ?? '')) return;
  process.env.SPICE_TEST_NAMES_FILE = path.join(os.tmpdir(), `spice-test-names-${process.pid}`);
  const cfg = loadConfig();
  const checks: Array<[string, number]> = [
    ['postgres', cfg.PG_PORT],
    ['minio', cfg.MINIO_PORT],
    ['kafka', cfg.KAFKA_PORT],
    ['temporal', cfg.TEMPORAL_PORT],
    ...(cfg.SEARCH_ENGINE === 'opensearch' && !cfg.OPENSEARCH_URL ? [['opensearch', cfg.OPENSEARCH_PORT] as [string, number]] : []),
  ];
  const down: string[] = [];
  for (const [name, port] of checks) if (!(await open(cfg.SPICE_HOST, port))) down.push(`${name} (${cfg.SPICE_HOST}:${port})`);
  if (down.length) throw new Error(`stack not running: ${down.join(', ')}. Start it with: npm run stack -- up`);
}

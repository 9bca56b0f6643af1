/**
 * Tools besides the services: Debian's headless `chromium` (the API docs test renders the page
 * with it; `npm test` installs it before jest runs, and the test fails naming this command when it
 * is missing) and, with --promtool, promtool built from the Go module proxy into the cache
 * directory (`npm run check:alerts` checks and unit-tests the alert rules with it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/app/config';
import { goEnv, requireTool, stackPaths } from './services';
import { commandExists, run } from './proc';

export const TOOL_VERSIONS = { prometheus: 'v0.316.0' } as const;
export const INSTALL_HINT = 'npx tsx scripts/stack/tools.ts (run by npm test)';

/** The promtool to use: the one built into the cache, else one on the PATH; undefined when neither exists. */
export function findPromtool(cfg: Config): string | undefined {
  const built = toolPaths(cfg).promtool;
  if (fs.existsSync(built)) return built;
  return commandExists('promtool') ? 'promtool' : undefined;
}

export function toolPaths(cfg: Config): { promtool: string; chromium: string } {
  return {
    promtool: path.join(stackPaths(cfg).cache, 'bin', `promtool-${TOOL_VERSIONS.prometheus}`, 'promtool'),
    chromium: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  };
}

export async function installTestTools(cfg: Config, say: (line: string) => void = () => undefined, withPromtool = false): Promise<void> {
  const p = stackPaths(cfg);
  const tools = toolPaths(cfg);
  fs.mkdirSync(p.logs, { recursive: true });
  const jobs: Promise<void>[] = [];
  if (withPromtool && !fs.existsSync(tools.promtool)) {
    requireTool('go', 'promtool', 'install Go >= 1.25 from the Debian packages or go.dev');
    say(`building promtool ${TOOL_VERSIONS.prometheus} (a few minutes, once) ...`);
    jobs.push(
      // remove_all_sd leaves out the service-discovery plugins (cloud SDKs): rules need none of them.
      run('go', ['install', '-tags', 'remove_all_sd', `github.com/prometheus/prometheus/cmd/promtool@${TOOL_VERSIONS.prometheus}`], {
        env: goEnv(p, path.dirname(tools.promtool)),
        logFile: path.join(p.logs, 'promtool-install.log'),
        service: 'promtool',
      }),
    );
  }
  if (!fs.existsSync(tools.chromium) && !commandExists('chromium')) {
    if (process.getuid?.() !== 0) throw new Error('chromium: not installed and not root; run: sudo apt-get install -y chromium');
    say('installing chromium (apt-get) ...');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const logFile = path.join(p.logs, 'chromium-install.log');
    jobs.push(
      run('apt-get', ['update', '-q'], { env, logFile, service: 'chromium' }).then(() =>
        run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'chromium'], { env, logFile, service: 'chromium' }),
      ),
    );
  }
  await Promise.all(jobs);
}

if (require.main === module) {
  const t0 = Date.now();
  const withPromtool = process.argv.includes('--promtool');
  installTestTools(loadConfig(), (l) => process.stdout.write(`[tools] ${l}\n`), withPromtool).then(
    () => process.stdout.write(`[tools] ${withPromtool ? 'promtool and ' : ''}chromium ready (${((Date.now() - t0) / 1000).toFixed(1)}s)\n`),
    (err) => {
      process.stderr.write(`[tools] ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

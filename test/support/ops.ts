/** The operator CLI in its own OS process, as `npm run ops -- <args>` runs it: real exit code and output. */
import { spawnTs } from './api-process';

export async function runOps(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 120_000): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const p = spawnTs('src/app/ops/cli.ts', env, args);
  const code = await p.exited(timeoutMs);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

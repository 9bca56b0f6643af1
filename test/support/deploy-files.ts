/**
 * Reading the deployment files as Docker Compose and Kubernetes would: YAML documents, Compose's
 * variable interpolation, the Dockerfile's stages. For the offline validation tests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, parse } from 'yaml';

export const ROOT = path.join(__dirname, '..', '..');
export const read = (rel: string) => fs.readFileSync(path.join(ROOT, rel), 'utf8');

/** Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, $$ for a dollar. */
export function interpolate(text: string, env: Record<string, string | undefined> = {}): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}/g, (match, name: string | undefined, op: string | undefined, arg: string | undefined) => {
    if (match === '$$') return '$';
    const value = env[name!];
    const unset = op?.startsWith(':') ? !value : value === undefined;
    if (op === undefined || !unset) return value ?? '';
    if (op.endsWith('?')) throw new Error(`required variable ${name}: ${arg}`);
    return interpolate(arg ?? '', env);
  });
}

export type Yaml = any;

/** The compose file as `docker compose config` would see it without a .env file (merge keys resolved). */
export function composeFile(env: Record<string, string | undefined> = {}): Yaml {
  return parse(interpolate(read('docker-compose.yml'), env), { merge: true });
}

export function yamlDocuments(text: string): Yaml[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('; '));
      return d.toJSON();
    })
    .filter((d) => d !== null);
}

export interface DockerStage {
  from: string;
  name?: string;
  instructions: Array<{ keyword: string; args: string }>;
}

/** The Dockerfile's stages with their instructions (continuation lines joined, comments dropped). */
export function dockerStages(text: string): DockerStage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: DockerStage[] = [];
  for (const line of lines) {
    const [, keyword, args] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (keyword === undefined) continue;
    if (keyword.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
      stages.push({ from: m[1], name: m[2], instructions: [] });
    } else stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
  }
  return stages;
}

/** The words of an npm script, e.g. "node --require tsx/cjs worker.ts" -> ['node', '--require', 'tsx/cjs', 'worker.ts']. */
export function npmScript(name: string): string[] {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  if (!scripts[name]) throw new Error(`package.json has no script '${name}'`);
  return scripts[name].split(/\s+/);
}

/**
 * Refreshes the schemas the deployment-file tests validate against (deploy/schemas/), from Go modules
 * on the module proxy (`go mod download`, no build): the Compose specification's JSON schema from
 * compose-go, and the definitions of the Kubernetes kinds deploy/k8s uses from the OpenAPI document
 * in the kubernetes module. Committed, so the tests run offline from a clean clone.
 *
 *   npx tsx scripts/deploy-schemas.ts
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const SCHEMA_SOURCES = {
  compose: { module: 'github.com/compose-spec/compose-go/v2', version: 'v2.16.2', file: 'schema/compose-spec.json' },
  kubernetes: { module: 'k8s.io/kubernetes', version: 'v1.34.1', file: 'api/openapi-spec/swagger.json' },
} as const;

/** The built-in kinds deploy/k8s uses; KEDA's ScaledObject is checked by @kubernetes-models/keda. */
export const KUBERNETES_KINDS = [
  'io.k8s.api.core.v1.ServiceAccount',
  'io.k8s.api.core.v1.ConfigMap',
  'io.k8s.api.core.v1.Service',
  'io.k8s.api.apps.v1.Deployment',
  'io.k8s.api.policy.v1.PodDisruptionBudget',
  'io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler',
];

const OUT = path.join(__dirname, '..', 'deploy', 'schemas');

function moduleDir(module: string, version: string): string {
  const out = execFileSync('go', ['mod', 'download', '-json', `${module}@${version}`], { encoding: 'utf8', cwd: OUT });
  return (JSON.parse(out) as { Dir: string }).Dir;
}

type Definitions = Record<string, Record<string, unknown>>;

/** The named definitions and every definition they reach through $ref. */
function closure(defs: Definitions, roots: string[]): Definitions {
  const picked: Definitions = {};
  const visit = (name: string) => {
    if (picked[name]) return;
    picked[name] = defs[name];
    JSON.stringify(defs[name]).replace(/"#\/definitions\/([^"]+)"/g, (_m, ref: string) => {
      visit(ref);
      return '';
    });
  };
  roots.forEach(visit);
  return picked;
}

function main(): void {
  const c = SCHEMA_SOURCES.compose;
  fs.copyFileSync(path.join(moduleDir(c.module, c.version), c.file), path.join(OUT, 'compose-spec.json'));
  const k = SCHEMA_SOURCES.kubernetes;
  const swagger = JSON.parse(fs.readFileSync(path.join(moduleDir(k.module, k.version), k.file), 'utf8')) as { definitions: Definitions };
  const definitions = closure(swagger.definitions, KUBERNETES_KINDS);
  fs.writeFileSync(path.join(OUT, 'kubernetes-definitions.json'), `${JSON.stringify({ source: `${k.module}@${k.version} ${k.file}`, definitions }, null, 1)}\n`);
  process.stdout.write(`deploy/schemas: compose-spec.json, kubernetes-definitions.json (${Object.keys(definitions).length} definitions)\n`);
}

if (require.main === module) main();

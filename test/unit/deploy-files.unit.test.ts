/**
 * The container image and the compose file, checked offline (this machine has no Docker engine):
 * the compose file against the Compose specification's JSON schema (deploy/schemas/compose-spec.json,
 * see deploy/schemas/README.md), its environment against the config module, the Dockerfile with
 * dockerfile-utils' linter, and the start commands of image, compose and Kubernetes against the
 * package.json scripts the tests run (test/int/container-commands.int.test.ts runs them).
 */
import Ajv2020 from 'ajv/dist/2020';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { configSchema, loadConfig } from '../../src/app/config';
import { composeFile, dockerStages, interpolate, npmScript, read, yamlDocuments, type Yaml } from '../support/deploy-files';
import { VERSIONS } from '../../scripts/stack/services';

const CONFIG_KEYS = new Set(Object.keys(configSchema.shape));
const APP_SERVICES = ['api', 'worker', 'audit-consumer'];
/** Services that run and stop once; the rest are long-running and must say when they are healthy. */
const ONE_SHOTS = ['temporal-schema', 'temporal-init', 'minio-init'];
const PUBLISHED = ['api', 'temporal-ui', 'prometheus', 'grafana'];

describe('docker-compose.yml', () => {
  const compose = composeFile();

  it('is valid against the Compose specification schema', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
    const validate = ajv.compile(JSON.parse(read('deploy/schemas/compose-spec.json')));
    const ok = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('runs the whole system: PostgreSQL, MinIO, Kafka, OpenSearch, a Temporal server on PostgreSQL with its UI, the API and the worker', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['api', 'audit-consumer', 'grafana', 'kafka', 'minio', 'minio-init', 'opensearch', 'postgres', 'prometheus', 'temporal', 'temporal-init', 'temporal-schema', 'temporal-ui', 'worker'].sort(),
    );
    // The search engine the config picks by default is there, the same version as the local stack, and every process waits for it.
    expect(loadConfig({}).SEARCH_ENGINE).toBe('opensearch');
    expect(compose.services.opensearch.image).toBe(`opensearchproject/opensearch:${VERSIONS.opensearch}`);
    for (const name of ['api', 'worker', 'audit-consumer']) {
      expect([name, compose.services[name].environment.OPENSEARCH_URL]).toEqual([name, 'http://opensearch:9200']);
      expect([name, compose.services[name].depends_on.opensearch?.condition]).toEqual([name, 'service_healthy']);
    }
    const temporal = compose.services.temporal;
    expect(temporal.image).toMatch(/^temporalio\/server:/);
    expect(temporal.environment.DB).toBe('postgres12');
    expect(JSON.stringify(temporal.command ?? '')).not.toContain('start-dev');
    expect(compose.services['temporal-schema'].depends_on.postgres.condition).toBe('service_healthy');
    expect(temporal.depends_on['temporal-schema'].condition).toBe('service_completed_successfully');
    expect(compose.services.prometheus.profiles).toEqual(['observability']);
    expect(compose.services.grafana.profiles).toEqual(['observability']);
  });

  it('has a health check on every long-running service, and every dependency waits for health or completion', () => {
    for (const [name, svc] of Object.entries<Yaml>(compose.services)) {
      if (!ONE_SHOTS.includes(name) && name !== 'api') expect([name, svc.healthcheck?.test]).toEqual([name, expect.any(Array)]);
      if (ONE_SHOTS.includes(name)) expect([name, svc.restart]).toEqual([name, 'no']);
      for (const [dep, cond] of Object.entries<Yaml>(svc.depends_on ?? {})) {
        const wanted = ONE_SHOTS.includes(dep) ? 'service_completed_successfully' : 'service_healthy';
        expect([name, dep, cond.condition]).toEqual([name, dep, wanted]);
      }
    }
    // The API's health check is the image's HEALTHCHECK (checked below).
    expect(compose.services.api.healthcheck).toBeUndefined();
  });

  it('publishes only the API and the UIs, on loopback unless SPICE_PUBLISH_HOST says otherwise', () => {
    for (const [name, svc] of Object.entries<Yaml>(compose.services)) {
      const ports: string[] = svc.ports ?? [];
      if (!PUBLISHED.includes(name)) expect([name, ports]).toEqual([name, []]);
      for (const p of ports) expect([name, p]).toEqual([name, expect.stringMatching(/^127\.0\.0\.1:\d+:\d+$/)]);
    }
    const published = composeFile({ SPICE_PUBLISH_HOST: '0.0.0.0' }).services.api.ports;
    expect(published).toEqual(['0.0.0.0:8080:8080']);
  });

  it('lets the worker scale (`--scale worker=3`): no container name, no published port, the same image as the API', () => {
    const { worker, api } = compose.services;
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports).toBeUndefined();
    expect(worker.image).toBe(api.image);
    for (const svc of Object.values<Yaml>(compose.services)) expect(svc.container_name).toBeUndefined();
  });

  it('sets only environment variables the config module knows on the API and the worker, and they load', () => {
    for (const name of APP_SERVICES) {
      const env: Record<string, string> = compose.services[name].environment;
      expect([name, Object.keys(env).filter((k) => !CONFIG_KEYS.has(k))]).toEqual([name, []]);
      const config = loadConfig({ ...imageEnv(), ...env });
      expect(config.temporalAddress).toBe('temporal:7233');
      expect(config.s3Endpoint).toBe('http://minio:9000');
      expect(config.kafkaBrokers).toEqual(['kafka:9092']);
      // Rows as the app role; migrations as the owner (README "Least privilege").
      expect(config.databaseUrl).toMatch(/^postgres:\/\/spice_app:[^@]+@postgres:5432\/spice_oms$/);
      expect(config.databaseOwnerUrl).toMatch(/^postgres:\/\/spice:[^@]+@postgres:5432\/spice_oms$/);
    }
  });

  it('gives the application the least-privileged MinIO user, never the root credentials', () => {
    const { api, minio } = compose.services;
    const init = compose.services['minio-init'];
    expect(api.environment.S3_ACCESS_KEY).toBe(init.environment.APP_ACCESS_KEY);
    expect(api.environment.S3_ACCESS_KEY).not.toBe(minio.environment.MINIO_ROOT_USER);
    const policy = JSON.parse(read('deploy/compose/minio-app-policy.json')) as { Statement: Array<{ Action: string[]; Resource: string[] }> };
    const actions = policy.Statement.flatMap((s) => s.Action);
    expect(actions.filter((a) => /Delete|\*|Admin|CreateBucket|PutBucketPolicy/.test(a))).toEqual([]);
    expect(policy.Statement.flatMap((s) => s.Resource).every((r) => r.startsWith('arn:aws:s3:::${S3_BUCKET}'))).toBe(true);
  });

  it('interpolates like Compose', () => {
    expect(interpolate('${A:-x} ${B-y} ${C:-${D:-z}} $$E', { A: '', B: '' })).toBe('x  z $E');
    expect(() => interpolate('${A:?set A}', {})).toThrow('set A');
  });
});

/** The runtime stage's ENV, as the API and worker containers start with it. */
function imageEnv(): Record<string, string> {
  const runtime = dockerStages(read('Dockerfile')).at(-1)!;
  const env: Record<string, string> = {};
  for (const i of runtime.instructions.filter((x) => x.keyword === 'ENV')) {
    for (const m of i.args.matchAll(/([A-Z_][A-Z0-9_]*)=(\S+)/g)) env[m[1]] = m[2].startsWith('${') ? 'unknown' : m[2];
  }
  return env;
}

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const stages = dockerStages(text);
  const runtime = stages.at(-1)!;
  const last = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword).at(-1)?.args;

  it('passes the linter without errors or warnings', () => {
    const problems = lintDockerfile(text);
    expect(problems.map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('builds in stages: production dependencies apart from the build with dev dependencies and the workflow bundle', () => {
    expect(stages.map((s) => s.name)).toEqual(['deps', 'build', 'runtime']);
    const run = (s: (typeof stages)[number]) =>
      s.instructions
        .filter((i) => i.keyword === 'RUN')
        .map((i) => i.args)
        .join('\n');
    expect(run(stages[0])).toContain('npm ci --omit=dev');
    expect(run(stages[1])).toMatch(/scripts\/bundle-workflows\.ts dist\/workflow-bundle\.js/);
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copies).toContain('--from=deps /app/node_modules ./node_modules');
    expect(copies).toContain('--from=build /app/dist ./dist');
    expect(last('ENV')).toContain('WORKER_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js');
  });

  it('runs as a non-root user with a health check', () => {
    expect(last('USER')).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    expect(last('HEALTHCHECK')).toMatch(/CMD \["node", "scripts\/healthcheck\.cjs"\]$/);
  });

  it('sets only variables the config module knows (besides NODE_ENV)', () => {
    expect(Object.keys(imageEnv()).filter((k) => k !== 'NODE_ENV' && !CONFIG_KEYS.has(k))).toEqual([]);
  });

  it('starts the API and the worker with the package.json scripts, in the image, compose and Kubernetes alike', () => {
    expect(JSON.parse(last('CMD')!)).toEqual(npmScript('api'));
    expect(composeFile().services.worker.command).toEqual(npmScript('worker'));
    const k8s = (file: string) => yamlDocuments(read(`deploy/k8s/base/${file}`))[0].spec.template.spec.containers[0].command;
    expect(k8s('api-deployment.yaml')).toEqual(npmScript('api'));
    expect(k8s('worker-deployment.yaml')).toEqual(npmScript('worker'));
    expect(composeFile().services['audit-consumer'].command).toEqual([...npmScript('consumer'), 'audit']);
    expect(k8s('audit-consumer-deployment.yaml')).toEqual([...npmScript('consumer'), 'audit']);
  });

  it('sends no dependencies, tests, local data or secrets into the build context', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('**');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    expect(allowed.filter((p) => /node_modules|test|\.env|bench|\.git/.test(p))).toEqual([]);
  });
});

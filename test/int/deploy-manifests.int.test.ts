/**
 * The Kubernetes manifests, checked offline: `kustomize build` of each overlay (kustomize built from
 * the Go module proxy), every built-in object against the Kubernetes 1.34 OpenAPI definitions made
 * strict (an unknown or misspelled field fails, as `kubectl apply --validate=strict` would), the KEDA
 * ScaledObject with @kubernetes-models/keda, and what the objects must agree on with the code: health
 * routes, config keys, shutdown bounds and the measured memory of BENCHMARKS.md.
 */
import { execFileSync } from 'node:child_process';
import Ajv, { type ValidateFunction } from 'ajv';
import { configSchema, loadConfig } from '../../src/app/config';
import { healthRoutes } from '../../src/api/routes/health';
import { read, ROOT, yamlDocuments, type Yaml } from '../support/deploy-files';
import { ensureKustomize, kustomizeBuild } from '../support/kustomize';

type Definitions = Record<string, Yaml>;

/** One validator per apiVersion/kind, over the definitions with unknown fields refused. */
function kubernetesValidators(): Map<string, ValidateFunction> {
  const { definitions } = JSON.parse(read('deploy/schemas/kubernetes-definitions.json')) as { definitions: Definitions };
  for (const def of Object.values(definitions)) {
    if (def.properties && def.additionalProperties === undefined && !def['x-kubernetes-preserve-unknown-fields']) def.additionalProperties = false;
  }
  // The OpenAPI document types both as strings; the API server takes numbers too (port: 8080, cpu: 1).
  definitions['io.k8s.apimachinery.pkg.util.intstr.IntOrString'] = { anyOf: [{ type: 'string' }, { type: 'integer' }] };
  definitions['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { anyOf: [{ type: 'string' }, { type: 'number' }] };
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  ajv.addSchema({ $id: 'k8s', definitions });
  const byKind = new Map<string, ValidateFunction>();
  for (const [name, def] of Object.entries(definitions)) {
    for (const gvk of (def['x-kubernetes-group-version-kind'] ?? []) as Array<{ group: string; version: string; kind: string }>) {
      byKind.set(`${gvk.group ? `${gvk.group}/` : ''}${gvk.version}/${gvk.kind}`, ajv.getSchema(`k8s#/definitions/${name}`)!);
    }
  }
  return byKind;
}

/** KEDA's models are ES modules: validated in a child process, the object on stdin. */
function validateScaledObject(doc: Yaml): void {
  const script = `import fs from 'node:fs';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
new ScaledObject(JSON.parse(fs.readFileSync(0, 'utf8'))).validate();`;
  execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, input: JSON.stringify(doc), stdio: ['pipe', 'pipe', 'pipe'] });
}

const find = (docs: Yaml[], kind: string, name?: string): Yaml | undefined => docs.find((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
const container = (docs: Yaml[], name: string): Yaml => find(docs, 'Deployment', name).spec.template.spec.containers[0];
const mebibytes = (q: string) => Number(/^(\d+)Mi$/.exec(q)?.[1] ?? /^(\d+)Gi$/.exec(q)?.[1]) * (q.endsWith('Gi') ? 1024 : 1);

/** Peak RSS in MB over every measured level and the 100,000-instance bulk of BENCHMARKS.md. */
function measuredPeakRssMb(): { worker: number; api: number } {
  const text = read('BENCHMARKS.md');
  const peaks = [...text.matchAll(/worker (\d+), api (\d+)(?: \||, bench)/g)].map((m) => ({ worker: Number(m[1]), api: Number(m[2]) }));
  expect(peaks.length).toBeGreaterThan(3);
  return { worker: Math.max(...peaks.map((p) => p.worker)), api: Math.max(...peaks.map((p) => p.api)) };
}

describe('deploy/k8s', () => {
  let kustomize: string;
  const validators = kubernetesValidators();
  const built: Record<string, Yaml[]> = {};

  beforeAll(async () => {
    kustomize = await ensureKustomize();
    for (const overlay of ['dev', 'prod']) built[overlay] = yamlDocuments(kustomizeBuild(kustomize, `overlays/${overlay}`));
  }, 600_000);

  it.each(['dev', 'prod'])('%s: every object is valid against the Kubernetes and KEDA schemas', (overlay) => {
    const problems: string[] = [];
    for (const doc of built[overlay]) {
      const id = `${doc.kind}/${doc.metadata.name}`;
      if (doc.kind === 'ScaledObject') {
        expect(() => validateScaledObject(doc)).not.toThrow();
        continue;
      }
      const validate = validators.get(`${doc.apiVersion}/${doc.kind}`);
      if (!validate) problems.push(`${id}: no schema for ${doc.apiVersion}`);
      else if (!validate(doc)) problems.push(...validate.errors!.map((e) => `${id}${e.instancePath}: ${e.message} ${JSON.stringify(e.params)}`));
    }
    expect(problems).toEqual([]);
  });

  it('refuses a misspelled field and a KEDA trigger without its type (the validators are not vacuous)', () => {
    const deployment = structuredClone(find(built.prod, 'Deployment', 'spice-oms-worker'));
    deployment.spec.template.spec.containers[0].livenesProbe = deployment.spec.template.spec.containers[0].livenessProbe;
    const validate = validators.get('apps/v1/Deployment')!;
    expect(validate(deployment)).toBe(false);
    expect(validate.errors!.some((e) => e.params.additionalProperty === 'livenesProbe')).toBe(true);
    const scaled = structuredClone(find(built.prod, 'ScaledObject'));
    delete scaled.spec.triggers[0].type;
    expect(() => validateScaledObject(scaled)).toThrow();
  });

  it('probes the API on the health routes it serves: readiness /health/ready, liveness /health/live', () => {
    const routes = healthRoutes([]).map((r) => r.path);
    const api = container(built.prod, 'spice-oms-api');
    expect(api.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(api.livenessProbe.httpGet.path).toBe('/health/live');
    expect(routes).toEqual(expect.arrayContaining([api.readinessProbe.httpGet.path, api.livenessProbe.httpGet.path]));
    const worker = container(built.prod, 'spice-oms-worker');
    expect(worker.livenessProbe.httpGet.port).toBe('metrics');
    // The audit consumer has no API either: its /metrics port is the one it is told to serve.
    const consumer = container(built.prod, 'spice-oms-audit-consumer');
    expect(consumer.livenessProbe.httpGet).toEqual({ path: '/metrics', port: 'metrics' });
    expect(consumer.ports[0].containerPort).toBe(Number(consumer.env.find((e: Yaml) => e.name === 'CONSUMER_METRICS_PORT').value));
  });

  it('takes settings from the ConfigMap (config keys only) and secrets from a Secret it does not define', () => {
    for (const overlay of ['dev', 'prod']) {
      const cm = find(built[overlay], 'ConfigMap');
      expect(Object.keys(cm.data).filter((k) => !(k in configSchema.shape))).toEqual([]);
      expect(find(built[overlay], 'Secret')).toBeUndefined();
      for (const name of ['spice-oms-api', 'spice-oms-worker', 'spice-oms-audit-consumer']) {
        const c = container(built[overlay], name);
        expect(c.envFrom).toEqual([{ configMapRef: { name: cm.metadata.name } }, { secretRef: { name: 'spice-oms-secrets' } }]);
        for (const e of c.env ?? []) expect(e.name in configSchema.shape).toBe(true);
      }
      // The scaler watches the queue the workers serve, on the server they use.
      const trigger = find(built[overlay], 'ScaledObject')?.spec.triggers[0].metadata;
      if (trigger) {
        expect(trigger.taskQueue).toBe(cm.data.TEMPORAL_TASK_QUEUE);
        expect(trigger.endpoint).toBe(cm.data.TEMPORAL_ADDRESS);
        expect(trigger.namespace).toBe(cm.data.TEMPORAL_NAMESPACE);
      }
    }
  });

  it('has a PodDisruptionBudget for each Deployment, selecting its pods', () => {
    for (const overlay of ['dev', 'prod']) {
      for (const d of built[overlay].filter((x) => x.kind === 'Deployment')) {
        const pdb = find(built[overlay], 'PodDisruptionBudget', d.metadata.name);
        expect(d.spec.template.metadata.labels).toEqual(expect.objectContaining(pdb.spec.selector.matchLabels));
      }
    }
  });

  it('requests at least the RSS measured at 128 concurrent commands, and limits above the bulk peak', () => {
    const peak = measuredPeakRssMb();
    for (const [name, measured] of [
      ['spice-oms-worker', peak.worker],
      ['spice-oms-api', peak.api],
    ] as const) {
      const { requests, limits } = container(built.prod, name).resources;
      expect([name, mebibytes(limits.memory) > measured]).toEqual([name, true]);
      expect([name, mebibytes(requests.memory) >= Math.min(measured, 256)]).toEqual([name, true]);
    }
  });

  it('gives each pod longer to stop than the process needs: the API its longest wait, the worker its shutdown bounds', () => {
    const cm = find(built.prod, 'ConfigMap');
    // The pods also load the Secret `spice-oms-secrets` (created outside the repository); without its
    // values the config refuses the built-in development credentials on cluster endpoints.
    const secrets = {
      S3_ACCESS_KEY: 'from-secret',
      S3_SECRET_KEY: 'from-secret',
      DATABASE_URL: 'postgres://spice:from-secret@postgres:5432/spice_oms',
      API_KEY_SECRET: 'from-secret-api-key-secret',
      PERSONAL_DATA_MASTER_KEY: Buffer.alloc(32, 1).toString('base64'),
    };
    const config = loadConfig({ ...cm.data, ...secrets });
    const api = find(built.prod, 'Deployment', 'spice-oms-api').spec.template.spec;
    const preStop = api.containers[0].lifecycle.preStop.sleep.seconds;
    expect(api.terminationGracePeriodSeconds).toBeGreaterThan(preStop + config.API_WAIT_MAX_MS / 1000);
    const worker = find(built.prod, 'Deployment', 'spice-oms-worker').spec.template.spec;
    expect(worker.terminationGracePeriodSeconds).toBeGreaterThan(config.workerShutdown.forceAfterMs / 1000);
  });

  it('scales workers with KEDA on the task queue in prod (no CPU HPA beside it), on CPU in dev', () => {
    expect(find(built.prod, 'ScaledObject')?.spec.triggers[0].type).toBe('temporal');
    expect(find(built.prod, 'HorizontalPodAutoscaler')).toBeUndefined();
    expect(find(built.dev, 'ScaledObject')).toBeUndefined();
    expect(find(built.dev, 'HorizontalPodAutoscaler')?.spec.scaleTargetRef.name).toBe('spice-oms-worker');
    expect(find(built.prod, 'ConfigMap').data.WORKER_VERSIONING).toBe('true');
  });

  it('runs as non-root with a read-only root filesystem and no service-account token', () => {
    for (const d of built.prod.filter((x) => x.kind === 'Deployment')) {
      const spec = d.spec.template.spec;
      expect(spec.securityContext.runAsNonRoot).toBe(true);
      expect(spec.automountServiceAccountToken).toBe(false);
      expect(spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
    }
  });
});

/** Where the workflow code lives, for bundling: one place, so worker, tests and scripts agree. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

const OTEL_WORKFLOW_INTERCEPTORS = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

/**
 * How the workflow code is bundled, by the worker, the tests and `npm run replay` alike. `traced`:
 * with the OpenTelemetry workflow interceptors, which a worker needs only when its process exports
 * traces. Without them a workflow activation costs about half the CPU (bench/activation.ts: their
 * modules are evaluated again for every workflow in the reusable V8 context, and every run records
 * spans). They add no workflow command, and from SDK 1.13.2 on their extra yields are gated by SDK
 * flags, so a history replays with either bundle (test/int/replay.int.test.ts replays both).
 */
export function workflowBundleOptions(traced: boolean) {
  return { workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: traced ? [OTEL_WORKFLOW_INTERCEPTORS] : [] };
}

/** The traced bundle: the tests, `npm run replay` and the image's prebuilt bundle. */
export const WORKFLOW_BUNDLE_OPTIONS = workflowBundleOptions(true);

/** Where the workflow code lives, for bundling: one place, so worker, tests and scripts agree. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

/**
 * How the workflow code is bundled, by the worker, the tests and `npm run replay` alike: a history
 * replays only against the code and interceptors that the worker runs. The OpenTelemetry workflow
 * interceptors are always in: they add no workflow command, and their spans go nowhere unless the
 * process has set up tracing.
 */
export const WORKFLOW_BUNDLE_OPTIONS = {
  workflowsPath: WORKFLOWS_PATH,
  workflowInterceptorModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')],
};

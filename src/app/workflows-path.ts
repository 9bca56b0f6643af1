/** Where the workflow code lives, for bundling: one place, so worker, tests and scripts agree. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

/**
 * How the workflow code is bundled, by the worker, the tests and `npm run replay` alike: a history
 * replays only against the code and interceptors that the worker runs.
 */
export const WORKFLOW_BUNDLE_OPTIONS = { workflowsPath: WORKFLOWS_PATH };

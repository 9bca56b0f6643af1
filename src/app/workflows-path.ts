/** Where the workflow code lives, for bundling: one place, so worker, tests and scripts agree. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

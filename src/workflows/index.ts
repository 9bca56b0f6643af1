/** Every workflow the worker registers; the worker bundles this file. */
export { processCommand } from './process-command';
export { rebuildReadModels } from './rebuild-read-models';
export { reconcileDeliveries } from './reconcile';
export { reindexSearch } from './reindex-search';
export { backfillToS3, reverseSyncToLegacy, verifyStores } from './migration';
export { forgetSubject } from './forget-subject';

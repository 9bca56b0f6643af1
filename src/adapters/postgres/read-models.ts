/**
 * Read models: projections of the event log into PostgreSQL (entities, graph edges, full-text
 * search) and the queries over them. Split by concern; this module is the one to import.
 */
export { ReadModelError, isReadModelError } from '../../ports/read-model-errors';
export type { ReadModelErrorCode } from '../../ports/read-model-errors';
export { DEFAULT_READ_MODEL_SCHEMA, READ_MODEL_MIGRATIONS, READ_MODEL_TABLES, dropReadModels, migrateReadModels } from './read-model-schema';
export type { ReadModelMigrateResult, ReadModelMigration } from './read-model-schema';
export { ReadModelProjector } from './read-model-projector';
export type { ProjectorOptions } from './read-model-projector';
export type { ApplyResult } from '../../ports/projector';
export { MAX_PAGE_LIMIT, encodeCursor } from '../../domain/paging';
export { MAX_TRAVERSAL_DEPTH, MAX_TRAVERSAL_NODES, PgReadModelQueries, decodeCursor } from './read-model-queries';
export { compareReadModels, rebuildReadModels } from './read-model-rebuild';
export type { RebuildOptions, RebuildResult } from './read-model-rebuild';
export type { ReadModelComparison, RowDifference, RowDifferenceKind, TableComparison } from '../../ports/read-model-rebuild';

/**
 * decide(command, state, context) -> events | refusal. Pure: everything beyond the aggregate's
 * own stream comes in `context`, loaded by the caller (see contextNeeds), and nothing here reads
 * the clock or generates ids, so a workflow may run it and replay it.
 */
import { Command, CommandInput, CommandOf, commandSchema } from './commands';
import { DomainError, DomainErrorData, ErrorDetail, domainError } from './errors';
import { DomainEvent, DomainEventOf, InstanceChanges, InstanceData } from './events';
import { FIRST_INCARNATION, StreamRef, batchAggregateId, classAggregateId, databaseAggregateId, instanceAggregateId } from './identifiers';
import { InstanceRef, TargetCatalog, validateInstance } from './instance-validation';
import { ClassCatalog, ClassDefinition, checkClassReferences } from './ontology-class';
import { formatPath, own } from './paths';
import { AggregateState, ClassState, DatabaseState, InstanceBatchState, InstanceState, initialState } from './state';

export interface DecideContext {
  /**
   * State of the command's database, required by every command on a class, an instance or a
   * batch: only an active database takes them, and its incarnation names their streams.
   */
  database?: DatabaseState;
  /** Live (not deleted) classes of the database by class id. */
  classes?: ClassCatalog;
  /** Instances of the database by id, at least those listed by contextNeeds(command).instanceIds. */
  targets?: TargetCatalog;
  /** Live instances of the class, for DELETE_ONTOLOGY_CLASS and UPDATE_ONTOLOGY_CLASS (abstract). */
  instanceCount?: number;
}

export interface DecideOptions {
  /** Maximum instances per INSTANCES_BULK_CREATED event. */
  batchSize?: number;
}

export const DEFAULT_BATCH_SIZE = 1000;

export type DecideResult = { ok: true; events: DomainEvent[] } | { ok: false; error: DomainErrorData };

const refuse = (code: DomainErrorData['code'], message: string, details: ErrorDetail[] = []): DecideResult => ({
  ok: false,
  error: domainError(code, message, details),
});
const accept = (...events: DomainEvent[]): DecideResult => ({ ok: true, events });

/**
 * The stream a command writes to, in the given life of its database (the caller loads the
 * database stream first: databaseOf(command) names it, incarnationFor gives the life). Database
 * commands ignore the incarnation. Does not validate; decide() does.
 */
export function streamOf(command: CommandInput | Command, incarnation: number): StreamRef {
  switch (command.command_type) {
    case 'CREATE_DATABASE':
    case 'DELETE_DATABASE':
      return { aggregate_type: 'database', aggregate_id: databaseAggregateId(command.payload.name) };
    case 'CREATE_ONTOLOGY_CLASS':
    case 'UPDATE_ONTOLOGY_CLASS':
    case 'DELETE_ONTOLOGY_CLASS':
      return { aggregate_type: 'ontology_class', aggregate_id: classAggregateId(command.db_name, command.payload.id, incarnation) };
    case 'CREATE_INSTANCE':
    case 'UPDATE_INSTANCE':
    case 'DELETE_INSTANCE':
      return { aggregate_type: 'instance', aggregate_id: instanceAggregateId(command.db_name, command.payload.id, incarnation) };
    case 'BULK_CREATE_INSTANCES':
      return { aggregate_type: 'instance_batch', aggregate_id: batchAggregateId(command.db_name, command.batch_id, incarnation) };
  }
}

/** The database whose stream must be loaded before the command's own stream; undefined for database commands. */
export function databaseOf(command: CommandInput | Command): string | undefined {
  return 'db_name' in command ? command.db_name : undefined;
}

/**
 * The life whose streams a command on a class, instance or batch reads and writes: the current
 * one. When the database is absent or deleted the command is refused anyway; the first life's
 * ids are then as good as any to load an (irrelevant) state from.
 */
export function incarnationFor(database: DatabaseState | undefined): number {
  return database?.incarnation ?? FIRST_INCARNATION;
}

/** What the caller has to load into DecideContext for this command. */
export interface ContextNeeds {
  database?: string;
  classes: boolean;
  /** ids to look up in `targets` (targets referenced, and ids being created, to detect duplicates) */
  instanceIds: string[];
  /** class whose live instances must be counted into `instanceCount` */
  instanceCountOf?: string;
}

export function contextNeeds(command: CommandInput | Command): ContextNeeds {
  const targetIds = (rels: Record<string, string | string[] | null> | undefined): string[] => Object.values(rels ?? {}).flatMap((v) => (v === null ? [] : Array.isArray(v) ? v : [v]));
  const unique = (ids: string[]): string[] => [...new Set(ids)];
  switch (command.command_type) {
    case 'CREATE_DATABASE':
    case 'DELETE_DATABASE':
      return { classes: false, instanceIds: [] };
    case 'CREATE_ONTOLOGY_CLASS':
      return { database: command.db_name, classes: true, instanceIds: [] };
    case 'UPDATE_ONTOLOGY_CLASS':
    case 'DELETE_ONTOLOGY_CLASS':
      return { database: command.db_name, classes: true, instanceIds: [], instanceCountOf: command.payload.id };
    case 'CREATE_INSTANCE':
      return {
        database: command.db_name,
        classes: true,
        instanceIds: unique([command.payload.id, ...targetIds(command.payload.relationships)]),
      };
    case 'UPDATE_INSTANCE':
      return { database: command.db_name, classes: true, instanceIds: unique(targetIds(command.payload.relationships)) };
    case 'DELETE_INSTANCE':
      return { database: command.db_name, classes: false, instanceIds: [] };
    case 'BULK_CREATE_INSTANCES':
      return {
        database: command.db_name,
        classes: true,
        instanceIds: unique(command.payload.instances.flatMap((i) => [i.id, ...targetIds(i.relationships)])),
      };
  }
}

/**
 * Decides a command. `command` may be unvalidated JSON: it is parsed with commandSchema first and
 * refused with INVALID_COMMAND (all schema issues in details) when malformed. `state` is the
 * command's own aggregate (initial state when omitted).
 */
export function decide(command: CommandInput | Command | unknown, state?: AggregateState, context: DecideContext = {}, options: DecideOptions = {}): DecideResult {
  const parsed = commandSchema.safeParse(command);
  if (!parsed.success) {
    return refuse(
      'INVALID_COMMAND',
      'the command does not match its schema',
      parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })),
    );
  }
  const cmd = parsed.data;
  const { aggregate_type } = streamOf(cmd, FIRST_INCARNATION);
  const current = state ?? initialState(aggregate_type);
  if (current.aggregate_type !== aggregate_type) {
    // a loader bug, not a business refusal
    throw new Error(`decide: ${cmd.command_type} needs a ${aggregate_type} state, got ${current.aggregate_type}`);
  }

  switch (cmd.command_type) {
    case 'CREATE_DATABASE':
      return createDatabase(cmd, current as DatabaseState);
    case 'DELETE_DATABASE':
      return deleteDatabase(cmd, current as DatabaseState);
  }
  // Everything below lives inside a database: only an active one takes commands.
  const noDb = missingDatabase(cmd.db_name, context);
  if (noDb) return noDb;
  switch (cmd.command_type) {
    case 'CREATE_ONTOLOGY_CLASS':
      return createClass(cmd, current as ClassState, context);
    case 'UPDATE_ONTOLOGY_CLASS':
      return updateClass(cmd, current as ClassState, context);
    case 'DELETE_ONTOLOGY_CLASS':
      return deleteClass(cmd, current as ClassState, context);
    case 'CREATE_INSTANCE':
      return createInstance(cmd, current as InstanceState, context);
    case 'UPDATE_INSTANCE':
      return updateInstance(cmd, current as InstanceState, context);
    case 'DELETE_INSTANCE':
      return deleteInstance(cmd, current as InstanceState, context);
    case 'BULK_CREATE_INSTANCES':
      return bulkCreateInstances(cmd, current as InstanceBatchState, context, options.batchSize ?? DEFAULT_BATCH_SIZE);
  }
}

/** Throwing form of decide() for callers outside workflows. */
export function decideOrThrow(command: CommandInput | Command | unknown, state?: AggregateState, context?: DecideContext, options?: DecideOptions): DomainEvent[] {
  const result = decide(command, state, context, options);
  if (!result.ok) throw DomainError.fromData(result.error);
  return result.events;
}

function event<T extends DomainEvent['event_type']>(event_type: T, stream: StreamRef, payload: DomainEventOf<T>['payload']): DomainEventOf<T> {
  return { event_type, aggregate_type: stream.aggregate_type, aggregate_id: stream.aggregate_id, payload } as DomainEventOf<T>;
}

type ScopedCommand = Exclude<Command, { command_type: 'CREATE_DATABASE' | 'DELETE_DATABASE' }>;

/** The stream of a command on a class, instance or batch, and what each of its events says about the life it belongs to. */
function scopeOf(cmd: ScopedCommand, context: DecideContext): { stream: StreamRef; db: { db_name: string; db_incarnation: number } } {
  const incarnation = incarnationFor(context.database);
  return { stream: streamOf(cmd, incarnation), db: { db_name: cmd.db_name, db_incarnation: incarnation } };
}

function missingDatabase(db: string, context: DecideContext): DecideResult | undefined {
  if (context.database?.status === 'active') return undefined;
  return refuse('DATABASE_NOT_FOUND', `database '${db}' does not exist`);
}

// ---- database ------------------------------------------------------------------------------

function createDatabase(cmd: CommandOf<'CREATE_DATABASE'>, state: DatabaseState): DecideResult {
  if (state.status === 'active') return refuse('DATABASE_EXISTS', `database '${cmd.payload.name}' already exists`);
  return accept(event('DATABASE_CREATED', streamOf(cmd, FIRST_INCARNATION), cmd.payload));
}

function deleteDatabase(cmd: CommandOf<'DELETE_DATABASE'>, state: DatabaseState): DecideResult {
  if (state.status !== 'active') return refuse('DATABASE_NOT_FOUND', `database '${cmd.payload.name}' does not exist`);
  return accept(event('DATABASE_DELETED', streamOf(cmd, FIRST_INCARNATION), { name: cmd.payload.name }));
}

// ---- ontology class ------------------------------------------------------------------------

/** The catalog as it will be once `definition` is stored, so cycles through the class itself show. */
function catalogWith(classes: ClassCatalog | undefined, definition: ClassDefinition): ClassCatalog {
  return { ...(classes ?? {}), [definition.id]: definition };
}

function createClass(cmd: CommandOf<'CREATE_ONTOLOGY_CLASS'>, state: ClassState, context: DecideContext): DecideResult {
  if (state.status === 'active') return refuse('CLASS_EXISTS', `class '${cmd.payload.id}' already exists`);
  const definition = cmd.payload;
  const details = checkClassReferences(definition, catalogWith(context.classes, definition));
  if (details.length > 0) return refuse('VALIDATION_FAILED', `class '${definition.id}' refers to missing classes`, details);
  const { stream, db } = scopeOf(cmd, context);
  return accept(event('ONTOLOGY_CLASS_CREATED', stream, { ...db, definition }));
}

function updateClass(cmd: CommandOf<'UPDATE_ONTOLOGY_CLASS'>, state: ClassState, context: DecideContext): DecideResult {
  if (state.status !== 'active' || state.definition === undefined) {
    return refuse('CLASS_NOT_FOUND', `class '${cmd.payload.id}' does not exist`);
  }
  const { id: _id, ...changes } = cmd.payload;
  const definition: ClassDefinition = { ...state.definition };
  if (changes.label !== undefined) definition.label = changes.label;
  if (changes.description === null) delete definition.description;
  else if (changes.description !== undefined) definition.description = changes.description;
  if (changes.parent_class === null) delete definition.parent_class;
  else if (changes.parent_class !== undefined) definition.parent_class = changes.parent_class;
  if (changes.abstract !== undefined) definition.abstract = changes.abstract;
  if (changes.properties !== undefined) definition.properties = changes.properties;
  if (changes.relationships !== undefined) definition.relationships = changes.relationships;

  if (definition.abstract && !state.definition.abstract && (context.instanceCount ?? 0) > 0) {
    return refuse('CLASS_HAS_INSTANCES', `class '${definition.id}' has instances and cannot become abstract`, [{ path: 'abstract', message: `${context.instanceCount} instance(s) exist` }]);
  }
  const details = checkClassReferences(definition, catalogWith(context.classes, definition));
  if (details.length > 0) return refuse('VALIDATION_FAILED', `class '${definition.id}' refers to missing classes`, details);
  const { stream, db } = scopeOf(cmd, context);
  return accept(event('ONTOLOGY_CLASS_UPDATED', stream, { ...db, changes, definition }));
}

function deleteClass(cmd: CommandOf<'DELETE_ONTOLOGY_CLASS'>, state: ClassState, context: DecideContext): DecideResult {
  if (state.status !== 'active') return refuse('CLASS_NOT_FOUND', `class '${cmd.payload.id}' does not exist`);
  const count = context.instanceCount ?? 0;
  if (count > 0 && !cmd.payload.force) {
    return refuse('CLASS_HAS_INSTANCES', `class '${cmd.payload.id}' still has ${count} instance(s); use force to delete anyway`, [{ path: 'force', message: `${count} instance(s) exist` }]);
  }
  const { stream, db } = scopeOf(cmd, context);
  return accept(
    event('ONTOLOGY_CLASS_DELETED', stream, {
      ...db,
      class_id: cmd.payload.id,
      force: cmd.payload.force,
      instance_count: count,
    }),
  );
}

// ---- instances -----------------------------------------------------------------------------

function instantiableClass(classId: string, context: DecideContext): DecideResult | undefined {
  const cls = own(context.classes, classId);
  if (cls === undefined) return refuse('CLASS_NOT_FOUND', `class '${classId}' does not exist`, [{ path: 'class_id', message: `class '${classId}' does not exist` }]);
  if (cls.abstract) return refuse('ABSTRACT_CLASS', `class '${classId}' is abstract and cannot be instantiated`, [{ path: 'class_id', message: 'abstract class' }]);
  return undefined;
}

const isLive = (ref: InstanceRef | undefined): boolean => ref !== undefined && ref.deleted !== true;

function createInstance(cmd: CommandOf<'CREATE_INSTANCE'>, state: InstanceState, context: DecideContext): DecideResult {
  const { id, class_id } = cmd.payload;
  // a bulk-created instance has an empty stream, so the targets catalog is consulted too
  if (state.status === 'active' || isLive(own(context.targets, id))) {
    return refuse('INSTANCE_EXISTS', `instance '${id}' already exists`);
  }
  const badClass = instantiableClass(class_id, context);
  if (badClass) return badClass;
  const result = validateInstance(cmd.payload, {
    classes: context.classes ?? {},
    targets: context.targets ?? {},
    pending: new Map([[id, class_id]]),
  });
  if (result.details.length > 0) {
    return refuse('VALIDATION_FAILED', `instance '${id}' does not match class '${class_id}'`, result.details);
  }
  const { stream, db } = scopeOf(cmd, context);
  return accept(event('INSTANCE_CREATED', stream, { ...db, instance: result.instance }));
}

/**
 * An instance addressed through a class (the request path names one) is found only through its
 * own class, as reads do: a command through another class's path changes nothing.
 */
function missingInstance(cmd: CommandOf<'UPDATE_INSTANCE'> | CommandOf<'DELETE_INSTANCE'>, state: InstanceState): DecideResult | undefined {
  if (state.status !== 'active' || state.instance === undefined) {
    return refuse('INSTANCE_NOT_FOUND', `instance '${cmd.payload.id}' does not exist`);
  }
  const { class_id } = cmd.payload;
  if (class_id !== undefined && class_id !== state.instance.class_id) {
    return refuse('INSTANCE_NOT_FOUND', `instance '${cmd.payload.id}' is not of class '${class_id}'`, [{ path: 'class_id', message: `instance '${cmd.payload.id}' is not of class '${class_id}'` }]);
  }
  return undefined;
}

function updateInstance(cmd: CommandOf<'UPDATE_INSTANCE'>, state: InstanceState, context: DecideContext): DecideResult {
  const missing = missingInstance(cmd, state);
  if (missing) return missing;
  const current = state.instance!;
  if (own(context.classes, current.class_id) === undefined) {
    return refuse('CLASS_NOT_FOUND', `class '${current.class_id}' of instance '${current.id}' does not exist`);
  }
  const changes: InstanceChanges = {};
  if (cmd.payload.properties !== undefined) changes.properties = cmd.payload.properties;
  if (cmd.payload.relationships !== undefined) changes.relationships = cmd.payload.relationships;
  const changedTargets = new Set(
    Object.entries(changes.relationships ?? {})
      .filter(([, v]) => v !== null)
      .map(([k]) => k),
  );
  // The whole new state must fit the class; only changed relationships need their targets loaded.
  const result = validateInstance(
    {
      id: current.id,
      class_id: current.class_id,
      properties: { ...current.properties, ...changes.properties },
      relationships: { ...current.relationships, ...changes.relationships },
    },
    { classes: context.classes ?? {}, targets: context.targets ?? {}, pending: new Map([[current.id, current.class_id]]) },
    { checkTargetsOf: changedTargets },
  );
  if (result.details.length > 0) {
    return refuse('VALIDATION_FAILED', `instance '${current.id}' does not match class '${current.class_id}'`, result.details);
  }
  const { stream, db } = scopeOf(cmd, context);
  return accept(event('INSTANCE_UPDATED', stream, { ...db, changes, instance: result.instance }));
}

function deleteInstance(cmd: CommandOf<'DELETE_INSTANCE'>, state: InstanceState, context: DecideContext): DecideResult {
  const missing = missingInstance(cmd, state);
  if (missing) return missing;
  const { stream, db } = scopeOf(cmd, context);
  return accept(
    event('INSTANCE_DELETED', stream, {
      ...db,
      instance_id: state.instance!.id,
      class_id: state.instance!.class_id,
    }),
  );
}

function bulkCreateInstances(cmd: CommandOf<'BULK_CREATE_INSTANCES'>, state: InstanceBatchState, context: DecideContext, batchSize: number): DecideResult {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (state.status === 'active') return refuse('BATCH_EXISTS', `batch '${cmd.batch_id}' was already recorded`);
  const { class_id, instances } = cmd.payload;
  const badClass = instantiableClass(class_id, context);
  if (badClass) return badClass;

  const pending = new Map(instances.map((i) => [i.id, class_id] as const));
  const existing: ErrorDetail[] = [];
  const invalid: ErrorDetail[] = [];
  const valid: InstanceData[] = [];
  instances.forEach((item, index) => {
    if (isLive(own(context.targets, item.id))) {
      existing.push({ path: `instances[${index}].id`, message: `instance '${item.id}' already exists` });
    }
    const result = validateInstance({ ...item, class_id }, { classes: context.classes ?? {}, targets: context.targets ?? {}, pending }, { basePath: `instances[${index}]` });
    invalid.push(...result.details);
    valid.push(result.instance);
  });
  // all or nothing; a pure id clash is a conflict (409), anything else a validation failure
  if (invalid.length > 0) {
    return refuse('VALIDATION_FAILED', `${instances.length} instance(s) refused: the bulk contains invalid instances`, [...existing, ...invalid]);
  }
  if (existing.length > 0) return refuse('INSTANCE_EXISTS', `${existing.length} instance id(s) already exist`, existing);

  const { stream, db } = scopeOf(cmd, context);
  const batchCount = Math.ceil(valid.length / batchSize);
  const events: DomainEvent[] = [];
  for (let batchIndex = 0; batchIndex < batchCount; batchIndex++) {
    events.push(
      event('INSTANCES_BULK_CREATED', stream, {
        ...db,
        batch_id: cmd.batch_id,
        class_id,
        batch_index: batchIndex,
        batch_count: batchCount,
        instances: valid.slice(batchIndex * batchSize, (batchIndex + 1) * batchSize),
      }),
    );
  }
  return accept(...events);
}

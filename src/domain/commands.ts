/**
 * Commands and their zod schemas. `commandSchemas` validates the payload of each command type and
 * is what the REST API reuses for 4xx answers; `commandSchema` validates a whole command as the
 * workflow receives it. Instance ids are required in commands: generating them is the caller's
 * job (requestSchemas + assignInstanceIds), so decide() stays deterministic.
 */
import { z } from 'zod';
import { BATCH_ID_PATTERN, DATABASE_NAME_PATTERN, INSTANCE_ID_PATTERN } from './identifiers';
import { classIdSchema, descriptionSchema, classDefinitionSchema, propertyListSchema, relationshipListSchema } from './ontology-class';

export const databaseNameSchema = z.string().regex(DATABASE_NAME_PATTERN, 'must match ' + DATABASE_NAME_PATTERN.source);
export const instanceIdSchema = z.string().regex(INSTANCE_ID_PATTERN, 'must match ' + INSTANCE_ID_PATTERN.source);
export const batchIdSchema = z.string().regex(BATCH_ID_PATTERN, 'must match ' + BATCH_ID_PATTERN.source);

/** One target id, or several; whether several are allowed depends on the relationship's cardinality. */
const relationshipValueSchema = z.union([instanceIdSchema, z.array(instanceIdSchema).max(10_000)]);
const propertyValuesSchema = z.record(z.string(), z.unknown());
const relationshipValuesSchema = z.record(z.string(), relationshipValueSchema);

export const MAX_BULK_INSTANCES = 100_000;

export const createDatabasePayloadSchema = z.strictObject({
  name: databaseNameSchema,
  description: descriptionSchema.optional(),
});
export const deleteDatabasePayloadSchema = z.strictObject({ name: databaseNameSchema });

export const createClassPayloadSchema = classDefinitionSchema;
export const updateClassPayloadSchema = z
  .strictObject({
    id: classIdSchema,
    label: z.string().trim().min(1).max(256).optional(),
    /** null clears the field */
    description: descriptionSchema.nullable().optional(),
    /** null makes the class a root class */
    parent_class: classIdSchema.nullable().optional(),
    abstract: z.boolean().optional(),
    /** replaces the class's own property list */
    properties: propertyListSchema.optional(),
    /** replaces the class's own relationship list */
    relationships: relationshipListSchema.optional(),
  })
  .refine((p) => Object.keys(p).some((k) => k !== 'id'), { message: 'nothing to update' });
export const deleteClassPayloadSchema = z.strictObject({
  id: classIdSchema,
  /** delete even while instances of the class exist */
  force: z.boolean().default(false),
});

const instanceFields = {
  properties: propertyValuesSchema.default({}),
  relationships: relationshipValuesSchema.default({}),
};
export const createInstancePayloadSchema = z.strictObject({
  id: instanceIdSchema,
  class_id: classIdSchema,
  ...instanceFields,
});
/** The class an update or delete addresses the instance through (the request path): when given, it must be the instance's class. */
const addressedClassSchema = classIdSchema.optional();

export const updateInstancePayloadSchema = z
  .strictObject({
    id: instanceIdSchema,
    class_id: addressedClassSchema,
    /** null removes an optional property */
    properties: propertyValuesSchema.optional(),
    /** null removes the relationship */
    relationships: z.record(z.string(), relationshipValueSchema.nullable()).optional(),
  })
  .refine((p) => p.properties !== undefined || p.relationships !== undefined, { message: 'nothing to update' });
export const deleteInstancePayloadSchema = z.strictObject({ id: instanceIdSchema, class_id: addressedClassSchema });

const bulkItemSchema = z.strictObject({ id: instanceIdSchema, ...instanceFields });
export const bulkCreateInstancesPayloadSchema = z
  .strictObject({
    class_id: classIdSchema,
    instances: z.array(bulkItemSchema).min(1).max(MAX_BULK_INSTANCES),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.instances.forEach((item, index) => {
      if (seen.has(item.id)) ctx.addIssue({ code: 'custom', path: ['instances', index, 'id'], message: `duplicate instance id '${item.id}'` });
      seen.add(item.id);
    });
  });

/** Payload schema per command type (strict: unknown fields are refused). */
export const commandSchemas = {
  CREATE_DATABASE: createDatabasePayloadSchema,
  DELETE_DATABASE: deleteDatabasePayloadSchema,
  CREATE_ONTOLOGY_CLASS: createClassPayloadSchema,
  UPDATE_ONTOLOGY_CLASS: updateClassPayloadSchema,
  DELETE_ONTOLOGY_CLASS: deleteClassPayloadSchema,
  CREATE_INSTANCE: createInstancePayloadSchema,
  UPDATE_INSTANCE: updateInstancePayloadSchema,
  DELETE_INSTANCE: deleteInstancePayloadSchema,
  BULK_CREATE_INSTANCES: bulkCreateInstancesPayloadSchema,
} as const;

export type CommandType = keyof typeof commandSchemas;
export const COMMAND_TYPES = Object.keys(commandSchemas) as CommandType[];

/**
 * Request bodies as clients send them: instance ids may be left out, the API fills them in with
 * assignInstanceIds before building the command.
 */
export const createInstanceRequestSchema = createInstancePayloadSchema.extend({ id: instanceIdSchema.optional() });
export const bulkCreateInstancesRequestSchema = z.strictObject({
  class_id: classIdSchema,
  instances: z
    .array(bulkItemSchema.extend({ id: instanceIdSchema.optional() }))
    .min(1)
    .max(MAX_BULK_INSTANCES),
});
export const requestSchemas = {
  ...commandSchemas,
  CREATE_INSTANCE: createInstanceRequestSchema,
  BULK_CREATE_INSTANCES: bulkCreateInstancesRequestSchema,
} as const;

export type CommandPayload<T extends CommandType> = z.output<(typeof commandSchemas)[T]>;
/** What callers may pass before defaults are applied (e.g. `force` omitted). */
export type CommandPayloadInput<T extends CommandType> = z.input<(typeof commandSchemas)[T]>;

const dbScoped = { db_name: databaseNameSchema };
export const commandSchema = z.discriminatedUnion('command_type', [
  z.object({ command_type: z.literal('CREATE_DATABASE'), payload: createDatabasePayloadSchema }),
  z.object({ command_type: z.literal('DELETE_DATABASE'), payload: deleteDatabasePayloadSchema }),
  z.object({ command_type: z.literal('CREATE_ONTOLOGY_CLASS'), ...dbScoped, payload: createClassPayloadSchema }),
  z.object({ command_type: z.literal('UPDATE_ONTOLOGY_CLASS'), ...dbScoped, payload: updateClassPayloadSchema }),
  z.object({ command_type: z.literal('DELETE_ONTOLOGY_CLASS'), ...dbScoped, payload: deleteClassPayloadSchema }),
  z.object({ command_type: z.literal('CREATE_INSTANCE'), ...dbScoped, payload: createInstancePayloadSchema }),
  z.object({ command_type: z.literal('UPDATE_INSTANCE'), ...dbScoped, payload: updateInstancePayloadSchema }),
  z.object({ command_type: z.literal('DELETE_INSTANCE'), ...dbScoped, payload: deleteInstancePayloadSchema }),
  z.object({
    command_type: z.literal('BULK_CREATE_INSTANCES'),
    ...dbScoped,
    /** names the batch stream; use the command id so a retried command lands on the same stream */
    batch_id: batchIdSchema,
    payload: bulkCreateInstancesPayloadSchema,
  }),
]);

/** A validated command, defaults applied. */
export type Command = z.output<typeof commandSchema>;
/** A command as callers build it (optional fields with defaults may be left out). */
export type CommandInput = z.input<typeof commandSchema>;
export type CommandOf<T extends CommandType> = Extract<Command, { command_type: T }>;

export type CreateInstanceRequest = z.output<typeof createInstanceRequestSchema>;
export type BulkCreateInstancesRequest = z.output<typeof bulkCreateInstancesRequestSchema>;

/** Fills missing instance ids using the caller's generator (uuid, ulid, ...), keeping given ones. */
export function assignInstanceIds(request: CreateInstanceRequest, newId: () => string): CommandPayload<'CREATE_INSTANCE'>;
export function assignInstanceIds(request: BulkCreateInstancesRequest, newId: () => string): CommandPayload<'BULK_CREATE_INSTANCES'>;
export function assignInstanceIds(request: CreateInstanceRequest | BulkCreateInstancesRequest, newId: () => string): CommandPayload<'CREATE_INSTANCE'> | CommandPayload<'BULK_CREATE_INSTANCES'> {
  if ('instances' in request) {
    return { ...request, instances: request.instances.map((item) => ({ ...item, id: item.id ?? newId() })) };
  }
  return { ...request, id: request.id ?? newId() };
}

/**
 * The shape of an ontology class and the rules that relate classes to each other (inheritance,
 * relationship targets). Structural rules live in the zod schemas so the API can answer 4xx with
 * them; rules that need the other classes of the database live in checkClassReferences.
 */
import { z } from 'zod';
import { ErrorDetail } from './errors';
import { CLASS_ID_PATTERN, MEMBER_NAME_PATTERN } from './identifiers';
import { own } from './paths';

export const SCALAR_TYPES = ['string', 'integer', 'decimal', 'boolean', 'date', 'datetime', 'json'] as const;
export type ScalarType = (typeof SCALAR_TYPES)[number];
/** An array property is { type: 'array', items: <scalar type> }; arrays of arrays are not modelled. */
export const PROPERTY_TYPES = [...SCALAR_TYPES, 'array'] as const;
export type PropertyType = (typeof PROPERTY_TYPES)[number];

export const CARDINALITIES = ['1:1', '1:n', 'n:1', 'n:m'] as const;
export type Cardinality = (typeof CARDINALITIES)[number];
/** Cardinalities under which one source instance points at several targets. */
export const MANY_TARGET_CARDINALITIES: readonly Cardinality[] = ['1:n', 'n:m'];

export const classIdSchema = z.string().regex(CLASS_ID_PATTERN, 'must match ' + CLASS_ID_PATTERN.source);
export const memberNameSchema = z.string().regex(MEMBER_NAME_PATTERN, 'must match ' + MEMBER_NAME_PATTERN.source);
const labelSchema = z.string().trim().min(1).max(256);
export const descriptionSchema = z.string().max(4000);

export const propertyDefinitionSchema = z
  .strictObject({
    name: memberNameSchema,
    type: z.enum(PROPERTY_TYPES),
    items: z.enum(SCALAR_TYPES).optional(),
    required: z.boolean().default(false),
    /** Personal data: values are stored encrypted with their subject's key and erased when it is forgotten. */
    personal: z.boolean().optional(),
    description: descriptionSchema.optional(),
  })
  .superRefine((p, ctx) => {
    if (p.type === 'array' && p.items === undefined) {
      ctx.addIssue({ code: 'custom', path: ['items'], message: "an array property needs 'items' (its scalar item type)" });
    }
    if (p.type !== 'array' && p.items !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['items'], message: "'items' is only allowed when type is 'array'" });
    }
  });
export type PropertyDefinition = z.output<typeof propertyDefinitionSchema>;

export const relationshipDefinitionSchema = z.strictObject({
  predicate: memberNameSchema,
  target_class: classIdSchema,
  cardinality: z.enum(CARDINALITIES),
  label: labelSchema.optional(),
});
export type RelationshipDefinition = z.output<typeof relationshipDefinitionSchema>;

const MAX_MEMBERS = 500;
export const propertyListSchema = z
  .array(propertyDefinitionSchema)
  .max(MAX_MEMBERS)
  .superRefine((list, ctx) =>
    reportDuplicates(
      list.map((p) => p.name),
      'name',
      'property',
      ctx,
    ),
  );
export const relationshipListSchema = z
  .array(relationshipDefinitionSchema)
  .max(MAX_MEMBERS)
  .superRefine((list, ctx) =>
    reportDuplicates(
      list.map((r) => r.predicate),
      'predicate',
      'predicate',
      ctx,
    ),
  );

function reportDuplicates(names: string[], field: string, what: string, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  names.forEach((name, index) => {
    if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [index, field], message: `duplicate ${what} '${name}'` });
    seen.add(name);
  });
}

export const classDefinitionSchema = z.strictObject({
  id: classIdSchema,
  label: labelSchema,
  description: descriptionSchema.optional(),
  parent_class: classIdSchema.optional(),
  abstract: z.boolean().default(false),
  properties: propertyListSchema.default([]),
  relationships: relationshipListSchema.default([]),
});
export type ClassDefinition = z.output<typeof classDefinitionSchema>;

/** Classes of one database by id, as the caller loaded them (deleted classes left out). */
export type ClassCatalog = Readonly<Record<string, ClassDefinition | undefined>>;

/**
 * The class and its ancestors, nearest first. Stops at a missing ancestor or a cycle instead of
 * looping: catalogs come from read models and must not be able to hang decide().
 */
export function classChain(classId: string, classes: ClassCatalog): ClassDefinition[] {
  const chain: ClassDefinition[] = [];
  const seen = new Set<string>();
  let current = own(classes, classId);
  while (current !== undefined && !seen.has(current.id)) {
    chain.push(current);
    seen.add(current.id);
    current = current.parent_class === undefined ? undefined : own(classes, current.parent_class);
  }
  return chain;
}

export function isSubclassOf(classId: string, ancestorId: string, classes: ClassCatalog): boolean {
  return classChain(classId, classes).some((c) => c.id === ancestorId);
}

/** Properties including inherited ones; a subclass redefining a name overrides its ancestor. */
export function effectiveProperties(classId: string, classes: ClassCatalog): Map<string, PropertyDefinition> {
  const result = new Map<string, PropertyDefinition>();
  for (const cls of classChain(classId, classes).reverse()) for (const p of cls.properties) result.set(p.name, p);
  return result;
}

export function effectiveRelationships(classId: string, classes: ClassCatalog): Map<string, RelationshipDefinition> {
  const result = new Map<string, RelationshipDefinition>();
  for (const cls of classChain(classId, classes).reverse()) for (const r of cls.relationships) result.set(r.predicate, r);
  return result;
}

/**
 * Checks what a definition refers to in the rest of the database: the parent and relationship
 * targets must exist (the class itself counts, to allow self-references), and the parent chain
 * must not lead back to the class.
 */
export function checkClassReferences(definition: ClassDefinition, classes: ClassCatalog): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  const exists = (id: string): boolean => id === definition.id || own(classes, id) !== undefined;

  if (definition.parent_class !== undefined) {
    if (definition.parent_class === definition.id) {
      details.push({ path: 'parent_class', message: 'a class cannot be its own parent' });
    } else if (!exists(definition.parent_class)) {
      details.push({ path: 'parent_class', message: `parent class '${definition.parent_class}' does not exist` });
    } else if (classChain(definition.parent_class, classes).some((c) => c.id === definition.id)) {
      details.push({ path: 'parent_class', message: `'${definition.parent_class}' is a descendant of '${definition.id}': inheritance cycle` });
    }
  }
  definition.relationships.forEach((r, index) => {
    if (!exists(r.target_class)) {
      details.push({ path: `relationships[${index}].target_class`, message: `target class '${r.target_class}' does not exist` });
    }
  });
  return details;
}

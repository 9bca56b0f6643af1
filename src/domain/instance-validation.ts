/**
 * Validation of instance data against its class (with inherited members) and against the
 * instances it points at. Collects every violation instead of stopping at the first, so a client
 * can fix a payload in one round trip.
 */
import type { ErrorDetail } from './errors';
import type { InstanceData, RelationshipValues } from './events';
import { ClassCatalog, MANY_TARGET_CARDINALITIES, RelationshipDefinition, effectiveProperties, effectiveRelationships, isSubclassOf } from './ontology-class';
import { joinPath, own } from './paths';
import { checkPropertyValue } from './property-types';

/** What the caller knows about an instance that is referenced as a relationship target. */
export interface InstanceRef {
  class_id: string;
  deleted?: boolean;
}
export type TargetCatalog = Readonly<Record<string, InstanceRef | undefined>>;

export interface InstanceValidationContext {
  classes: ClassCatalog;
  targets: TargetCatalog;
  /**
   * Instances being created by the same command (the instance itself, or the whole bulk), by id
   * to class id: they are valid targets although no stream holds them yet.
   */
  pending?: ReadonlyMap<string, string>;
}

export interface InstanceDraft {
  id: string;
  class_id: string;
  properties: Record<string, unknown>;
  relationships: Record<string, string | string[] | null>;
}

export interface InstanceValidation {
  details: ErrorDetail[];
  /** null-valued members dropped, to-many relationships as arrays */
  instance: InstanceData;
}

/**
 * Validates a complete instance. `checkTargetsOf` limits the target lookups to the predicates a
 * command changed (updates leave untouched relationships alone, their targets need not be loaded);
 * undefined checks all. `basePath` prefixes detail paths, e.g. "instances[3]" in a bulk.
 */
export function validateInstance(draft: InstanceDraft, context: InstanceValidationContext, options: { basePath?: string; checkTargetsOf?: ReadonlySet<string> } = {}): InstanceValidation {
  const base = options.basePath ?? '';
  const details: ErrorDetail[] = [];
  const propertiesPath = joinPath(base, 'properties');
  const relationshipsPath = joinPath(base, 'relationships');

  const propertyDefs = effectiveProperties(draft.class_id, context.classes);
  const properties: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(draft.properties)) {
    // null means "absent", so removing a property the class no longer declares stays possible
    if (value === null || value === undefined) continue;
    const path = joinPath(propertiesPath, name);
    const def = propertyDefs.get(name);
    if (def === undefined) {
      details.push({ path, message: `unknown property '${name}' for class '${draft.class_id}'` });
    } else {
      details.push(...checkPropertyValue(def, value, path));
      properties[name] = value;
    }
  }
  for (const def of propertyDefs.values()) {
    if (def.required && !Object.prototype.hasOwnProperty.call(properties, def.name)) {
      details.push({ path: joinPath(propertiesPath, def.name), message: `required property '${def.name}' is missing` });
    }
  }

  const relationshipDefs = effectiveRelationships(draft.class_id, context.classes);
  const relationships: RelationshipValues = {};
  for (const [predicate, value] of Object.entries(draft.relationships)) {
    if (value === null || value === undefined) continue;
    const path = joinPath(relationshipsPath, predicate);
    const def = relationshipDefs.get(predicate);
    if (def === undefined) {
      details.push({ path, message: `unknown relationship predicate '${predicate}' for class '${draft.class_id}'` });
      continue;
    }
    const normalised = normaliseTargets(def, value, path, details);
    if (normalised === undefined) continue;
    relationships[predicate] = normalised;
    if (options.checkTargetsOf === undefined || options.checkTargetsOf.has(predicate)) {
      const ids = Array.isArray(normalised) ? normalised : [normalised];
      ids.forEach((targetId, index) => {
        const targetPath = Array.isArray(normalised) ? joinPath(path, index) : path;
        details.push(...checkTarget(def, targetId, targetPath, context));
      });
    }
  }

  return {
    details,
    instance: { id: draft.id, class_id: draft.class_id, properties, relationships },
  };
}

function normaliseTargets(def: RelationshipDefinition, value: string | string[], path: string, details: ErrorDetail[]): string | string[] | undefined {
  const many = MANY_TARGET_CARDINALITIES.includes(def.cardinality);
  if (!many) {
    if (Array.isArray(value)) {
      details.push({ path, message: `relationship '${def.predicate}' is ${def.cardinality}: it takes one target id, not an array` });
      return undefined;
    }
    return value;
  }
  const ids = Array.isArray(value) ? value : [value];
  const seen = new Set<string>();
  let ok = true;
  ids.forEach((id, index) => {
    if (seen.has(id)) {
      details.push({ path: joinPath(path, index), message: `duplicate target '${id}'` });
      ok = false;
    }
    seen.add(id);
  });
  return ok ? ids : undefined;
}

function checkTarget(def: RelationshipDefinition, targetId: string, path: string, context: InstanceValidationContext): ErrorDetail[] {
  const pendingClass = context.pending?.get(targetId);
  const ref = own(context.targets, targetId);
  const classId = pendingClass ?? (ref !== undefined && ref.deleted !== true ? ref.class_id : undefined);
  if (classId === undefined) return [{ path, message: `target instance '${targetId}' does not exist` }];
  if (!isSubclassOf(classId, def.target_class, context.classes)) {
    return [
      {
        path,
        message: `target instance '${targetId}' is a '${classId}', relationship '${def.predicate}' needs a '${def.target_class}'`,
      },
    ];
  }
  return [];
}

/**
 * The OpenSearch mapping of a database's index, generated from its ontology classes: each property
 * type becomes a field type, text gets a keyword sub-field (exact filters, facets) and an
 * edge-n-gram sub-field (prefix search), and every text value is also copied into one catch-all
 * field so a search covers every property without knowing the classes.
 */
import type { ClassDefinition, PropertyDefinition, ScalarType } from '../../domain/ontology-class';

/** Names of the document's own fields (the rest live under `properties.` and `relationships.`). */
export const FIELDS = {
  id: 'id',
  classId: 'class_id',
  incarnation: 'db_incarnation',
  version: 'version',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  allText: 'all_text',
} as const;

export const ANALYSIS = {
  filter: {
    spice_edge: { type: 'edge_ngram', min_gram: 1, max_gram: 20 },
  },
  analyzer: {
    // Names and labels: case and accents do not matter ("Zoë" is found by "zoe").
    spice_text: { type: 'custom', tokenizer: 'standard', filter: ['lowercase', 'asciifolding'] },
    // Indexed as every prefix of each word, searched as whole words: "lov" finds "Lovelace".
    spice_prefix: { type: 'custom', tokenizer: 'standard', filter: ['lowercase', 'asciifolding', 'spice_edge'] },
  },
} as const;

export type FieldMapping = Record<string, unknown>;

const KEYWORD_MAX = 256;

const TEXT: FieldMapping = {
  type: 'text',
  analyzer: 'spice_text',
  copy_to: [FIELDS.allText],
  fields: {
    keyword: { type: 'keyword', ignore_above: KEYWORD_MAX },
    prefix: { type: 'text', analyzer: 'spice_prefix', search_analyzer: 'spice_text' },
  },
};
/** Kept in _source, not indexed: any JSON value fits, so it can never refuse a document. */
const OPAQUE: FieldMapping = { type: 'object', enabled: false };

const SCALAR_FIELDS: Record<ScalarType, FieldMapping> = {
  string: TEXT,
  integer: { type: 'long' },
  decimal: { type: 'double' },
  boolean: { type: 'boolean' },
  date: { type: 'date', format: 'strict_date' },
  datetime: { type: 'date', format: 'strict_date_optional_time' },
  json: OPAQUE,
};

/** Arrays are implicit in OpenSearch: an array property maps as its item type. */
export function scalarTypeOf(p: PropertyDefinition): ScalarType {
  return p.type === 'array' ? (p.items ?? 'json') : p.type;
}

/**
 * Two classes of one database may give a property name different types; the index has one field
 * per name. Numbers widen to double, dates to date-or-date-time; any other mix is kept opaque
 * (stored, returned, not searchable) rather than letting one class's values be refused.
 */
function mergeTypes(types: Set<ScalarType>): FieldMapping {
  if (types.size === 1) return SCALAR_FIELDS[[...types][0]];
  const only = (...allowed: ScalarType[]) => [...types].every((t) => allowed.includes(t));
  if (only('integer', 'decimal')) return SCALAR_FIELDS.decimal;
  if (only('date', 'datetime')) return SCALAR_FIELDS.datetime;
  return OPAQUE;
}

/** The `properties` and `relationships` fields for a set of classes (deleted classes left out by the caller). */
export function classFields(classes: readonly ClassDefinition[]): { properties: Record<string, FieldMapping>; relationships: Record<string, FieldMapping> } {
  const types = new Map<string, Set<ScalarType>>();
  const predicates = new Set<string>();
  for (const c of classes) {
    for (const p of c.properties) types.set(p.name, (types.get(p.name) ?? new Set()).add(scalarTypeOf(p)));
    for (const r of c.relationships) predicates.add(r.predicate);
  }
  const properties: Record<string, FieldMapping> = {};
  for (const [name, t] of [...types].sort(([a], [b]) => (a < b ? -1 : 1))) properties[name] = mergeTypes(t);
  const relationships: Record<string, FieldMapping> = {};
  for (const p of [...predicates].sort()) relationships[p] = { type: 'keyword' };
  return { properties, relationships };
}

/**
 * The whole mapping of an index. `dynamic: false` everywhere: a value of a property no class maps
 * (a property removed from its class, an instance whose class is not projected yet) stays in
 * _source and is returned, but cannot change the mapping behind the classes' back.
 */
export function indexMapping(classes: readonly ClassDefinition[]): Record<string, unknown> {
  const { properties, relationships } = classFields(classes);
  return {
    dynamic: false,
    properties: {
      [FIELDS.id]: { type: 'keyword' },
      [FIELDS.classId]: { type: 'keyword' },
      [FIELDS.incarnation]: { type: 'long' },
      [FIELDS.version]: { type: 'long' },
      [FIELDS.createdAt]: { type: 'date' },
      [FIELDS.updatedAt]: { type: 'date' },
      [FIELDS.allText]: { ...TEXT, copy_to: undefined },
      properties: { type: 'object', dynamic: false, properties },
      relationships: { type: 'object', dynamic: false, properties: relationships },
    },
  };
}

/** Settings of every spice-oms index: one shard, no replica (a single node), the analysers above. */
export function indexSettings(): Record<string, unknown> {
  return {
    number_of_shards: 1,
    number_of_replicas: 0,
    analysis: ANALYSIS,
    // A value of the wrong type (a class changed its property's type) leaves that field out of the
    // index instead of refusing the whole document.
    'mapping.ignore_malformed': true,
    // Deletes are versioned too: their tombstones must outlive any late retry or reconciliation
    // of an older version (the default keeps them 60 s).
    gc_deletes: '1d',
  };
}

/**
 * Upcasters: how events written by older code are read by today's. Each event type's payload has
 * a schema version (the envelope's schema_version); an upcaster turns a payload of (type, n) into
 * (type, n + 1), purely, and readers apply the chain up to the type's current version on read.
 * Stored objects are never rewritten: the chain runs every time an old event is read.
 *
 * Rules for a new upcaster (README, "Evolving events"): append it to its type's list (its position
 * is the version it reads), never edit or remove one that shipped, keep it total (a payload that
 * does not have the old shape passes through unchanged) and leave values it does not own alone
 * (sealed personal data stays sealed).
 */
import { own } from './paths';

/** A payload of one version of its type in, the same type's next version out. Never mutates its input. */
export type Upcaster = (payload: unknown) => unknown;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A renamed payload field: the value moves, nothing else changes. */
function renameField(from: string, to: string): Upcaster {
  return (payload) => {
    if (!isObject(payload) || !Object.prototype.hasOwnProperty.call(payload, from) || Object.prototype.hasOwnProperty.call(payload, to)) return payload;
    const { [from]: value, ...rest } = payload;
    return { ...rest, [to]: value };
  };
}

/** Per event type, the upcaster from version i + 1 to i + 2 at index i. */
export const UPCASTERS: Readonly<Record<string, readonly Upcaster[]>> = {
  // v2: the deletion names the flag as the DELETE_ONTOLOGY_CLASS command does ('force', not 'forced').
  ONTOLOGY_CLASS_DELETED: [renameField('forced', 'force')],
};

/** The schema version decide() writes for an event type: 1 plus the upcasters it has had. */
export function currentSchemaVersion(eventType: string): number {
  return 1 + (own(UPCASTERS, eventType)?.length ?? 0);
}

export interface VersionedEvent {
  event_type: string;
  schema_version?: number;
  payload: unknown;
}

/**
 * The event at its type's current version. Events already current, of a type without upcasters,
 * or of a version newer than this code knows (written by a newer release) come back as they are;
 * a missing or invalid schema_version counts as 1 (events stored before versions were used).
 */
export function upcast<E extends VersionedEvent>(event: E): E {
  const chain = own(UPCASTERS, event.event_type);
  if (chain === undefined) return event;
  const stored = event.schema_version;
  let version = typeof stored === 'number' && Number.isSafeInteger(stored) && stored >= 1 ? stored : 1;
  if (version > chain.length) return event;
  let payload = event.payload;
  for (; version <= chain.length; version++) payload = chain[version - 1](payload);
  return { ...event, schema_version: version, payload };
}

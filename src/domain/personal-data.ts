/**
 * Personal data in events (crypto-shredding): which property values are personal, whose they are
 * (the subject: the instance, by its stream id), and how a sealed or erased value looks. The
 * encryption itself is an adapter's (src/adapters/personal-data.ts); this stays pure.
 */
import { EVENT_TYPES, incarnationOfEvent, type InstanceData } from './events';
import { instanceAggregateId } from './identifiers';
import { effectiveProperties, type ClassCatalog } from './ontology-class';

/** A personal value as stored: ciphertext under its subject's data key (format owned by the cipher). */
export interface SealedValue {
  $sealed: string;
}
/** A personal value whose subject was forgotten: what every read shows instead of it. */
export interface ErasedValue {
  $erased: true;
}
export const ERASED: ErasedValue = Object.freeze({ $erased: true as const });

export const isSealed = (v: unknown): v is SealedValue => typeof v === 'object' && v !== null && typeof (v as { $sealed?: unknown }).$sealed === 'string' && Object.keys(v).length === 1;
export const isErased = (v: unknown): v is ErasedValue => typeof v === 'object' && v !== null && (v as { $erased?: unknown }).$erased === true;

/** Names of the class's personal properties, inherited ones included. */
export function personalProperties(classId: string, classes: ClassCatalog): Set<string> {
  return new Set([...effectiveProperties(classId, classes).values()].filter((p) => p.personal === true).map((p) => p.name));
}

/** The subject an instance's personal values belong to: the instance, named by its stream (one per database life). */
export const subjectOf = (db: string, incarnation: number, instanceId: string): string => instanceAggregateId(db, instanceId, incarnation);

/** Where property values sit in an event: the instances it carries, with the property maps to visit. */
interface ValueSite {
  subject: string;
  class_id: string;
  maps: Record<string, unknown>[];
}

function sitesOf(event: { event_type: string; payload: unknown }): ValueSite[] {
  const p = event.payload as { db_name?: unknown; instance?: InstanceData; instances?: InstanceData[]; changes?: { properties?: Record<string, unknown> } } | null;
  if (p === null || typeof p !== 'object' || typeof p.db_name !== 'string') return [];
  const incarnation = incarnationOfEvent(event);
  const site = (i: InstanceData | undefined, extra: (Record<string, unknown> | undefined)[] = []): ValueSite[] =>
    i && typeof i === 'object' && typeof i.id === 'string'
      ? [
          {
            subject: subjectOf(p.db_name as string, incarnation, i.id),
            class_id: i.class_id,
            maps: [i.properties, ...extra].filter((m): m is Record<string, unknown> => typeof m === 'object' && m !== null),
          },
        ]
      : [];
  switch (event.event_type) {
    case EVENT_TYPES.INSTANCE_CREATED:
      return site(p.instance);
    case EVENT_TYPES.INSTANCE_UPDATED:
      return site(p.instance, [p.changes?.properties]);
    case EVENT_TYPES.INSTANCES_BULK_CREATED:
      return Array.isArray(p.instances) ? p.instances.flatMap((i) => site(i)) : [];
    default:
      return [];
  }
}

type Pick = (site: { subject: string; class_id: string }, name: string, value: unknown) => boolean;

/** The subjects with at least one property value `pick` selects in the event. */
export function subjectsWhere(event: { event_type: string; payload: unknown }, pick: Pick): string[] {
  return sitesOf(event)
    .filter((s) => s.maps.some((m) => Object.entries(m).some(([k, v]) => pick(s, k, v))))
    .map((s) => s.subject);
}

/**
 * The event with `fn` applied to each property value `pick` selects; everything else is shared
 * with the input, which is never changed. Returns the input itself when nothing was picked.
 */
export function mapPersonalValues<E extends { event_type: string; payload: unknown }>(event: E, pick: Pick, fn: (subject: string, name: string, value: unknown) => unknown): E {
  if (subjectsWhere(event, pick).length === 0) return event;
  const copy = structuredClone(event);
  for (const s of sitesOf(copy)) {
    for (const m of s.maps) for (const [k, v] of Object.entries(m)) if (pick(s, k, v)) m[k] = fn(s.subject, k, v);
  }
  return copy;
}

/** Values to seal: personal by the class, not null (a removal), not sealed already. */
export function sealablePick(classes: ClassCatalog): Pick {
  const memo = new Map<string, Set<string>>();
  return (site, name, value) => {
    let names = memo.get(site.class_id);
    if (names === undefined) memo.set(site.class_id, (names = personalProperties(site.class_id, classes)));
    return names.has(name) && value !== null && value !== undefined && !isSealed(value) && !isErased(value);
  };
}

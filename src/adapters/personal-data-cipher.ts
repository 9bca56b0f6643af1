/**
 * Seals personal values with AES-256-GCM (node:crypto) under their subject's data key, and opens
 * them again. Without the key (the subject was forgotten) a value reads as ERASED, wherever it was
 * stored or relayed. The subject and the property name are the associated data: a sealed value
 * copied into another property or another instance does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ERASED, isSealed, mapPersonalValues, sealablePick, subjectsWhere, type SealedValue } from '../domain/personal-data';
import type { ClassCatalog } from '../domain/ontology-class';
import { splitAggregateId } from '../domain/identifiers';
import type { AggregateState } from '../domain/state';
import type { CommandBodySeal, PersonalDataCipher, SubjectKeyStore } from '../ports/personal-data';

const FORMAT = 'v1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const aad = (subject: string, name: string) => Buffer.from(`${subject}\u0000${name}`);

export function sealValue(key: Buffer, subject: string, name: string, value: unknown): SealedValue {
  return sealJson(key, subject, name, JSON.stringify(value));
}

/** sealValue for a value already written as JSON. */
function sealJson(key: Buffer, subject: string, name: string, json: string): SealedValue {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv).setAAD(aad(subject, name));
  const ct = Buffer.concat([c.update(json, 'utf8'), c.final()]);
  return { $sealed: FORMAT + Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64url') };
}

/** The value, or ERASED when the key is gone or does not open it (a key made again after forgetting). */
export function openValue(key: Buffer | undefined, subject: string, name: string, sealed: SealedValue): unknown {
  if (key === undefined || !sealed.$sealed.startsWith(FORMAT)) return ERASED;
  const bytes = Buffer.from(sealed.$sealed.slice(FORMAT.length), 'base64url');
  try {
    const d = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES)).setAAD(aad(subject, name));
    d.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return JSON.parse(Buffer.concat([d.update(bytes.subarray(IV_BYTES + TAG_BYTES)), d.final()]).toString('utf8'));
  } catch {
    return ERASED;
  }
}

export class AesPersonalDataCipher implements PersonalDataCipher {
  constructor(private readonly keys: SubjectKeyStore) {}

  async seal<E extends { event_type: string; payload: unknown }>(events: E[], classes: ClassCatalog): Promise<E[]> {
    const pick = sealablePick(classes);
    const subjects = events.flatMap((e) => subjectsWhere(e, pick));
    if (subjects.length === 0) return events;
    const keys = await this.keys.dataKeys(subjects, { create: true });
    return events.map((e) => mapPersonalValues(e, pick, (subject, name, value) => sealValue(keyOf(keys, subject), subject, name, value)));
  }

  async open<E extends { event_type: string; payload: unknown }>(events: E[]): Promise<E[]> {
    const pick = (_s: unknown, _n: string, v: unknown) => isSealed(v);
    const subjects = events.flatMap((e) => subjectsWhere(e, pick));
    if (subjects.length === 0) return events;
    const keys = await this.keys.dataKeys(subjects, { create: false });
    return events.map((e) => mapPersonalValues(e, pick, (subject, name, value) => openValue(keys.get(subject), subject, name, value as SealedValue)));
  }

  async openState<S extends AggregateState>(state: S, aggregateId: string): Promise<S> {
    if (state.aggregate_type !== 'instance' || state.instance === undefined) return state;
    const { incarnation } = splitAggregateId(aggregateId);
    const [e] = await this.open([{ event_type: 'INSTANCE_CREATED', payload: { db_name: state.db_name, db_incarnation: incarnation, instance: state.instance } }]);
    return { ...state, instance: (e.payload as { instance: unknown }).instance };
  }
}

/** A database name cannot contain '@', so no instance subject can ever name a command body's key. */
export const commandBodySubject = (commandId: string): string => `@command-body:${commandId}`;

const itemName = (index: number) => `instances/${index}`;

export class CommandBodyCipher implements CommandBodySeal {
  constructor(private readonly keys: SubjectKeyStore) {}

  async seal(commandId: string, body: unknown): Promise<SealedValue> {
    const subject = commandBodySubject(commandId);
    return sealValue(keyOf(await this.keys.dataKeys([subject], { create: true }), subject), subject, 'body', body);
  }

  async itemSealer(commandId: string): Promise<(index: number, itemJson: string) => SealedValue> {
    const subject = commandBodySubject(commandId);
    const key = keyOf(await this.keys.dataKeys([subject], { create: true }), subject);
    return (index, itemJson) => sealJson(key, subject, itemName(index), itemJson);
  }

  async open(commandId: string, stored: unknown): Promise<unknown> {
    const payload = (stored as { payload?: { instances?: unknown } } | undefined)?.payload;
    const items = Array.isArray(payload?.instances) && payload.instances.length > 0 && isSealed(payload.instances[0]) ? payload.instances : undefined;
    if (!isSealed(stored) && items === undefined) return stored;
    const subject = commandBodySubject(commandId);
    const key = (await this.keys.dataKeys([subject], { create: false })).get(subject);
    if (items === undefined) {
      const body = openValue(key, subject, 'body', stored as SealedValue);
      return body === ERASED ? undefined : body;
    }
    const opened = items.map((item, i) => (isSealed(item) ? openValue(key, subject, itemName(i), item) : ERASED));
    return opened.includes(ERASED) ? undefined : { ...(stored as object), payload: { ...payload, instances: opened } };
  }

  forget(commandId: string): Promise<boolean> {
    return this.keys.forget(commandBodySubject(commandId));
  }
}

function keyOf(keys: Map<string, Buffer>, subject: string): Buffer {
  const key = keys.get(subject);
  // Only a forget racing this very call can remove a key just created: sealing must not go on without one.
  if (key === undefined) throw new Error(`no data key for subject ${JSON.stringify(subject).slice(0, 200)}`);
  return key;
}

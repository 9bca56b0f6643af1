/**
 * Crypto-shredding (README "Personal data"): data keys per subject, and the cipher that seals
 * personal values before an event is stored and opens them on read.
 */
import type { EventEnvelope } from '../contracts/event-envelope';
import type { ClassCatalog } from '../domain/ontology-class';
import type { AggregateState } from '../domain/state';

/**
 * Data keys per subject. The PostgreSQL adapter wraps them with a master key from the config; a
 * cloud KMS fits the same interface (generate-data-key on create, decrypt on read, delete).
 */
export interface SubjectKeyStore {
  /** The subjects' data keys (32 bytes); with `create`, missing keys are made first. Forgotten subjects have none unless created again. */
  dataKeys(subjects: readonly string[], o: { create: boolean }): Promise<Map<string, Buffer>>;
  /** Deletes the subject's key for good; true when there was one. */
  forget(subject: string): Promise<boolean>;
}

export interface PersonalDataCipher {
  /** Events with their personal values (by the classes) sealed under their subjects' keys. */
  seal<E extends { event_type: string; payload: unknown }>(events: E[], classes: ClassCatalog): Promise<E[]>;
  /** Envelopes with sealed values opened, or erased where the subject's key is gone. */
  open<E extends Pick<EventEnvelope, 'event_type' | 'payload'>>(events: E[]): Promise<E[]>;
  /** A folded state (cache, snapshot) of the stream `aggregateId` with its instance's values opened. */
  openState<S extends AggregateState>(state: S, aggregateId: string): Promise<S>;
}

/**
 * A command body too large for a Temporal payload waits in S3 before decide could seal its personal
 * values: it is sealed whole under a key of its own command, and that key is deleted when the
 * command ends, so the stored body can never be read again (S3 objects of the event store are
 * never deleted).
 */
export interface CommandBodySeal {
  seal(commandId: string, body: unknown): Promise<unknown>;
  /**
   * For a body written as it is read (a streamed bulk): seals the JSON of `payload.instances[index]`
   * on its own, bound to its place, so no item is ever written in plain text.
   */
  itemSealer(commandId: string): Promise<(index: number, itemJson: string) => unknown>;
  /** The body, whole or with its items sealed; undefined once its key is gone. A body stored unsealed (before sealing existed) is returned as it is. */
  open(commandId: string, stored: unknown): Promise<unknown>;
  /** Deletes the body's key for good; true when there was one. */
  forget(commandId: string): Promise<boolean>;
}

/** An instance whose personal values were erased, as the read models and the search index must show it now. */
export interface ErasedInstance {
  db: string;
  incarnation: number;
  instance_id: string;
  properties: Record<string, unknown>;
}

/** Replaces what the read models and the search index hold of a forgotten subject. */
export interface SubjectPurge {
  /** Idempotent; false when the read models hold no such instance. */
  purgeInstance(erased: ErasedInstance): Promise<{ read_model: boolean; search: boolean }>;
}

/** What FORGET_SUBJECT answers (the workflow's result). */
export interface ForgetSubjectOutcome {
  subject: string;
  incarnation: number;
  key_deleted: boolean;
  purged: { read_model: boolean; search: boolean };
}

/** FORGET_SUBJECT as the API starts it: the workflow runs to its end. */
export interface SubjectForgetting {
  forget(p: { db_name: string; instance_id: string; actor: string }): Promise<ForgetSubjectOutcome>;
}

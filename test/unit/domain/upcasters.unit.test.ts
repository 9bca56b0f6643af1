/** Upcasters: old events are read at their type's current version; current ones pass untouched. */
import { currentSchemaVersion, upcast, UPCASTERS } from '../../../src/domain';
import { currentEnvelope, envelopeOf } from '../../../src/contracts/event-envelope';
import { currentPayload, encodeEventMessage, parseEventMessage, stubOf } from '../../../src/contracts/kafka-message';
import { activeDb, DB, given } from './given-when-then';

const classCreated = {
  event_type: 'ONTOLOGY_CLASS_CREATED' as const,
  aggregate_type: 'ontology_class' as const,
  aggregate_id: `${DB}:Person`,
  payload: { db_name: DB, db_incarnation: 1, definition: { id: 'Person', label: 'Person', abstract: false, properties: [], relationships: [] } },
};
/** ONTOLOGY_CLASS_DELETED as version 1 stored it. */
const deletedV1 = {
  event_type: 'ONTOLOGY_CLASS_DELETED',
  aggregate_type: 'ontology_class',
  aggregate_id: `${DB}:Person`,
  schema_version: 1,
  payload: { db_name: DB, db_incarnation: 1, class_id: 'Person', forced: true, instance_count: 3 },
};

describe('the upcaster registry', () => {
  it('gives each type its current version: 1 plus its upcasters', () => {
    expect(currentSchemaVersion('ONTOLOGY_CLASS_DELETED')).toBe(2);
    expect(currentSchemaVersion('INSTANCE_CREATED')).toBe(1);
    expect(currentSchemaVersion('SOMETHING_NEWER')).toBe(1);
    expect(currentSchemaVersion('constructor')).toBe(1);
  });

  it('given a v1 class deletion, when read, then it is v2 with force instead of forced', () => {
    const frozen = structuredClone(deletedV1);
    expect(upcast(deletedV1)).toEqual({ ...deletedV1, schema_version: 2, payload: { db_name: DB, db_incarnation: 1, class_id: 'Person', force: true, instance_count: 3 } });
    expect(deletedV1).toEqual(frozen); // pure: the stored object is never changed
  });

  it('given an event without schema_version (stored before versions were used), then it counts as v1', () => {
    const { schema_version: _, ...unversioned } = deletedV1;
    expect(upcast(unversioned)).toMatchObject({ schema_version: 2, payload: { force: true } });
  });

  it('given a v2 class deletion, when read, then it is returned as it is', () => {
    const v2 = { ...deletedV1, schema_version: 2, payload: { class_id: 'Person', force: false, instance_count: 0 } };
    expect(upcast(v2)).toBe(v2);
  });

  it('given an event of a version newer than this code, a type without upcasters or a payload of another shape, then nothing changes', () => {
    const newer = { ...deletedV1, schema_version: 3 };
    expect(upcast(newer)).toBe(newer);
    const other = { event_type: 'INSTANCE_DELETED', schema_version: 1, payload: { instance_id: 'a', forced: true } };
    expect(upcast(other)).toBe(other);
    expect(upcast({ ...deletedV1, payload: null })).toEqual({ ...deletedV1, payload: null, schema_version: 2 });
    // a v1 payload that already has the new name keeps both values as they are
    expect(upcast({ ...deletedV1, payload: { forced: true, force: false } }).payload).toEqual({ forced: true, force: false });
  });

  it('has only functions: every shipped upcaster stays in place (its position is the version it reads)', () => {
    for (const chain of Object.values(UPCASTERS)) for (const u of chain) expect(typeof u).toBe('function');
  });
});

describe('decide and evolve over old and new events', () => {
  it('given a class created and then deleted by v1, when the class is updated, then decide sees it deleted', () => {
    given(classCreated, upcast(deletedV1))
      .when({ command_type: 'UPDATE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Person', label: 'Someone' } }, { database: activeDb, classes: {} })
      .thenError('CLASS_NOT_FOUND');
  });

  it('when a class is deleted today, then the event is written at v2 with force', () => {
    const [event] = given(classCreated)
      .when({ command_type: 'DELETE_ONTOLOGY_CLASS', db_name: DB, payload: { id: 'Person', force: true } }, { database: activeDb, instanceCount: 1 })
      .events();
    expect(event.payload).toEqual({ db_name: DB, db_incarnation: 1, class_id: 'Person', force: true, instance_count: 1 });
    const envelope = envelopeOf<unknown>(event, { commandId: 'c', position: 0, version: 2, occurredAt: '2026-01-01T00:00:00.000Z', actor: 'a', storageMode: 's3_only' });
    expect(envelope.schema_version).toBe(2);
    // an event written today reads back unchanged
    expect(currentEnvelope(envelope)).toBe(envelope);
  });
});

describe('Kafka messages', () => {
  const stored = envelopeOf(
    { ...deletedV1, aggregate_type: 'ontology_class' },
    { commandId: 'c', position: 0, version: 2, occurredAt: '2026-01-01T00:00:00.000Z', actor: 'a', storageMode: 's3_only' },
  );
  const v1 = { ...stored, schema_version: 1 };

  it('parsing a message gives its envelope at the current version', () => {
    const { value } = encodeEventMessage(v1, null, 's3_only', 1_000_000);
    expect(parseEventMessage(value).payload).toMatchObject({ schema_version: 2, payload: { force: true } });
  });

  it('a stub carries the schema version and is never upcast (it has no payload)', () => {
    const stub = stubOf(v1);
    expect(stub.schema_version).toBe(1);
    expect(currentPayload(stub)).toBe(stub);
  });
});

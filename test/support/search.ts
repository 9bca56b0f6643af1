/** OpenSearch fixtures: a client on the stack's node, an index prefix per test file, and domain events built by hand. */
import { Client } from '@opensearch-project/opensearch';
import type { EventEnvelope } from '../../src/contracts/event-envelope';
import type { ClassDefinition } from '../../src/domain/ontology-class';
import type { InstanceData } from '../../src/domain/events';
import { classAggregateId, instanceAggregateId, batchAggregateId } from '../../src/domain/identifiers';
import { testConfig, uniqueName } from './env';

export function searchFixture(name: string) {
  const client = new Client({ node: testConfig.opensearchUrl });
  const prefix = uniqueName(name).replace(/[^a-z0-9_-]/g, '');
  let seq = 0;
  const envelope = (event_type: string, aggregate_type: string, aggregate_id: string, version: number, payload: unknown): EventEnvelope => ({
    event_id: `${prefix}-${seq++}`,
    event_type,
    aggregate_type,
    aggregate_id,
    aggregate_version: version,
    occurred_at: new Date().toISOString(),
    actor: 'test',
    command_id: `${prefix}-cmd-${seq}`,
    schema_version: 1,
    payload,
    metadata: { storage_mode: 's3_only' },
  });
  const scope = (db: string, inc: number) => ({ db_name: db, db_incarnation: inc });
  return {
    client,
    prefix,
    dbCreated: (db: string, version = 1) => envelope('DATABASE_CREATED', 'database', db, version, { name: db }),
    dbDeleted: (db: string, version: number) => envelope('DATABASE_DELETED', 'database', db, version, { name: db }),
    classPut: (db: string, def: Partial<ClassDefinition> & { id: string }, version = 1, inc = 1) =>
      envelope(version === 1 ? 'ONTOLOGY_CLASS_CREATED' : 'ONTOLOGY_CLASS_UPDATED', 'ontology_class', classAggregateId(db, def.id, inc), version, {
        ...scope(db, inc),
        definition: { label: def.id, abstract: false, properties: [], relationships: [], ...def },
        changes: {},
      }),
    instancePut: (db: string, i: Omit<InstanceData, 'relationships'> & { relationships?: InstanceData['relationships'] }, version = 1, inc = 1) =>
      envelope(version === 1 ? 'INSTANCE_CREATED' : 'INSTANCE_UPDATED', 'instance', instanceAggregateId(db, i.id, inc), version, {
        ...scope(db, inc),
        instance: { relationships: {}, ...i },
        changes: {},
      }),
    instanceDeleted: (db: string, id: string, classId: string, version: number, inc = 1) =>
      envelope('INSTANCE_DELETED', 'instance', instanceAggregateId(db, id, inc), version, { ...scope(db, inc), instance_id: id, class_id: classId }),
    bulk: (db: string, batchId: string, classId: string, instances: InstanceData[], inc = 1) =>
      envelope('INSTANCES_BULK_CREATED', 'instance_batch', batchAggregateId(db, batchId, inc), 1, {
        ...scope(db, inc),
        batch_id: batchId,
        class_id: classId,
        batch_index: 0,
        batch_count: 1,
        instances,
        claims: instances.map((i) => ({ aggregate_id: instanceAggregateId(db, i.id, inc), version: 1 })),
      }),
    async refresh(): Promise<void> {
      await client.indices.refresh({ index: `${prefix}.*`, allow_no_indices: true });
    },
    async cleanup(): Promise<void> {
      await client.indices.delete({ index: `${prefix}.*`, allow_no_indices: true, ignore_unavailable: true, expand_wildcards: 'all' }).catch(() => undefined);
      await client.close();
    },
  };
}

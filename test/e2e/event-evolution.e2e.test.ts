/**
 * Schema evolution on the real services: an event object stored by an older version (a v1
 * ONTOLOGY_CLASS_DELETED, which called `force` `forced`) is read at the current version by the
 * API's history and by a rebuild, while the object in S3 stays byte for byte as it was written;
 * Kafka messages carry the schema version in a header.
 */
import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { envelopeOf, type EventEnvelope } from '../../src/contracts/event-envelope';
import { HEADER_SCHEMA_VERSION } from '../../src/contracts/kafka-message';
import { classAggregateId } from '../../src/domain';
import { getText } from '../../src/adapters/s3/s3-client';
import { createRebuildActivities, type RebuildChunkResult } from '../../src/activities/rebuild';
import { startPipeline, Pipeline } from '../support/pipeline';
import { sendJson } from '../support/http';
import { eventually } from '../support/env';

let p: Pipeline;
const send = (method: string, path: string, body?: unknown) => sendJson(p.url, method, path, body, { prefer: 'wait=30' });

beforeAll(async () => {
  p = await startPipeline('e2e-evolution');
});
afterAll(async () => {
  await p?.close();
});

test('a v1 event stored in S3 is read at v2 by the history API and by a rebuild; the object is never rewritten', async () => {
  const db = 'evolved';
  expect((await send('POST', '/databases', { name: db })).status).toBe(201);
  expect((await send('POST', `/databases/${db}/classes`, { id: 'Old', label: 'Old' })).status).toBe(201);

  // What version 1 of the code wrote when it deleted the class (appended as it was, in S3 alone).
  const stream = { aggregate_type: 'ontology_class', aggregate_id: classAggregateId(db, 'Old', 1) };
  const v1: EventEnvelope = {
    ...envelopeOf(
      { event_type: 'ONTOLOGY_CLASS_DELETED', ...stream, payload: { db_name: db, db_incarnation: 1, class_id: 'Old', forced: true, instance_count: 0 } },
      { commandId: randomUUID(), position: 0, version: 2, occurredAt: new Date().toISOString(), actor: 'v1', storageMode: 's3_only' },
    ),
    schema_version: 1,
  };
  await p.api.infra.s3Store.append(stream, 1, [v1]);
  const indexKey = p.api.infra.s3Store.keys.streamIndexKey(stream, 2);
  const storedBefore = await getText(p.api.infra.s3, p.api.infra.config.S3_BUCKET, indexKey);
  expect(JSON.parse(storedBefore!)).toMatchObject({ schema_version: 1, payload: { forced: true } });

  // The API's history and time travel read through the event store: version 2.
  const history = await send('GET', `/databases/${db}/classes/Old/history`);
  expect(history.status).toBe(200);
  const deleted = history.body.items.find((e: EventEnvelope) => e.event_type === 'ONTOLOGY_CLASS_DELETED');
  expect(deleted).toMatchObject({ schema_version: 2, payload: { class_id: 'Old', force: true } });
  expect(deleted.payload).not.toHaveProperty('forced');

  // A rebuild replays readAll: the projector is handed the event at version 2 and applies it.
  const deps = p.api.infra.rebuildDeps();
  const projected: EventEnvelope[] = [];
  const activities = createRebuildActivities({
    ...deps,
    readModels: {
      prepare: (s) => deps.readModels.prepare(s),
      compareWithLive: (a) => deps.readModels.compareWithLive(a),
      catchUpWithLive: (s) => deps.readModels.catchUpWithLive(s),
      switchLive: (s, o) => deps.readModels.switchLive(s, o),
      drop: (s) => deps.readModels.drop(s),
      projectorFor: (s) => ({
        apply: (events) => {
          projected.push(...events);
          return deps.readModels.projectorFor(s).apply(events);
        },
      }),
    },
  });
  const target = `${p.api.infra.readModelSchema}_evolved`;
  let from: string | undefined;
  for (;;) {
    const chunk = (await new MockActivityEnvironment().run(activities.rebuildChunk, { target_schema: target, from, limit: 200 })) as RebuildChunkResult;
    from = chunk.checkpoint;
    if (!chunk.has_more) break;
  }
  expect(projected.find((e) => e.event_id === v1.event_id)).toMatchObject({ schema_version: 2, payload: { force: true } });
  const pool = p.api.infra.pool;
  expect((await pool.query(`SELECT count(*)::int AS n FROM ${target}.classes WHERE db_name = $1 AND class_id = 'Old'`, [db])).rows[0].n).toBe(0);
  await p.api.infra.ownerPool.query(`DROP SCHEMA ${target} CASCADE`);

  // Reads never wrote anything back.
  expect(await getText(p.api.infra.s3, p.api.infra.config.S3_BUCKET, indexKey)).toBe(storedBefore);
});

test('Kafka messages carry the schema version of their event type in a header', async () => {
  const db = 'versioned';
  expect((await send('POST', '/databases', { name: db })).status).toBe(201);
  expect((await send('POST', `/databases/${db}/classes`, { id: 'Gone', label: 'Gone' })).status).toBe(201);
  expect((await send('DELETE', `/databases/${db}/classes/Gone`)).status).toBe(200);
  const aggregateId = classAggregateId(db, 'Gone', 1);
  const messages = await eventually(
    async () => p.messagesFor(aggregateId),
    (m) => m.length === 2,
  );
  expect(messages.map((m) => [m.value.payload.event_type, m.headers[HEADER_SCHEMA_VERSION]])).toEqual([
    ['ONTOLOGY_CLASS_CREATED', '1'],
    ['ONTOLOGY_CLASS_DELETED', '2'],
  ]);
  expect(messages[1].value.payload).toMatchObject({ schema_version: 2, payload: { force: false } });
});

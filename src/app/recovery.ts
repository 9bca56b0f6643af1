/**
 * Disaster recovery from the source of truth (issue 17, item 8): PostgreSQL lost entirely, S3
 * holds every event. Into an empty database (the migrations of connectInfrastructure have just
 * created the schemas), it
 *   1. reads the Kafka topic once and notes every event id it already carries (`event-id` header);
 *   2. records a ledger row for every committed stream version in S3 (claims included, as the
 *      commands recorded them), marking delivered, with its partition and offset, what Kafka holds;
 *   3. replays S3 into the (empty) live read models, as a rebuild does;
 *   4. relays what Kafka did not have yet, in stream order.
 * Consumers see no duplicate for an event Kafka already had; the reconciliation's next run scans the
 * event store from its start again (its checkpoint was in PostgreSQL too) and finds nothing to do.
 * Not in S3, so not recovered: API keys (create them again), the legacy storage mode's event table.
 */
import type { Infrastructure } from './composition';
import type { EventEnvelope } from '../contracts/event-envelope';
import type { Delivery, LedgerInput } from '../ports/ledger';
import { PredecessorNotDelivered } from '../ports/relay';
import { scanTopic } from '../adapters/kafka/topic-scan';
import { rebuildReadModels } from '../adapters/postgres/read-model-rebuild';

export class RecoveryTargetNotEmptyError extends Error {
  readonly code = 'RECOVERY_TARGET_NOT_EMPTY';
}

export interface RecoveryResult {
  /** Stream versions in S3 recorded in the ledger: events and claims. */
  recorded: number;
  claims: number;
  /** Events Kafka already carried: marked delivered, not sent again. */
  already_in_kafka: number;
  /** Events relayed by the recovery because Kafka did not have them. */
  relayed: number;
  /** Events the ledger refused (logged by id), and events held behind them. */
  not_recorded: string[];
  not_relayed: string[];
  read_model_events: number;
  seconds: { kafka_scan: number; ledger: number; read_models: number; relay: number; total: number };
}

const RELAY_CHUNK = 500;

export async function recoverFromEventStore(infra: Infrastructure, say: (line: string) => void = () => undefined): Promise<RecoveryResult> {
  const t0 = Date.now();
  const secs = (since: number) => Math.round((Date.now() - since) / 100) / 10;
  const { rows } = await infra.pool.query<{ used: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${infra.schema}.delivery_ledger) AS used`);
  if (rows[0].used) throw new RecoveryTargetNotEmptyError(`the ledger in schema '${infra.schema}' is not empty: recovery only fills an empty database`);

  say(`reading Kafka topic ${infra.topic}`);
  const inKafka = new Map<string, Delivery>();
  for (const m of await scanTopic(infra.kafka, infra.topic)) {
    if (m.eventId !== undefined && !inKafka.has(m.eventId)) inKafka.set(m.eventId, { eventId: m.eventId, partition: m.partition, offset: m.offset });
  }
  const kafkaScan = secs(t0);
  say(`${inKafka.size} event ids in Kafka (${kafkaScan} s); recording the ledger from S3`);

  const t1 = Date.now();
  const result: RecoveryResult = {
    recorded: 0,
    claims: 0,
    already_in_kafka: 0,
    relayed: 0,
    not_recorded: [],
    not_relayed: [],
    read_model_events: 0,
    seconds: { kafka_scan: kafkaScan, ledger: 0, read_models: 0, relay: 0, total: 0 },
  };
  for await (const page of infra.s3Store.committedEntries()) {
    // A claim's row holds its version only, as the bulk command records it (the batch event carries the instance).
    const inputs: LedgerInput[] = page.map((e) => (e.s3 === null ? { envelope: { ...e.envelope, payload: {} }, s3: null, claim: true } : { envelope: e.envelope, s3: e.s3 }));
    const { recorded, failed } = await infra.ledger.recordEach(inputs);
    result.recorded += recorded.length;
    result.claims += inputs.filter((i) => i.claim).length;
    result.not_recorded.push(...failed.map((f) => f.eventId));
    const delivered = inputs.flatMap((i) => (i.claim ? [] : (inKafka.get(i.envelope.event_id) ?? [])));
    await infra.ledger.markDelivered(infra.pool, delivered);
    result.already_in_kafka += delivered.length;
  }
  result.seconds.ledger = secs(t1);
  say(`${result.recorded} ledger rows (${result.claims} claims, ${result.already_in_kafka} already in Kafka) in ${result.seconds.ledger} s; rebuilding the read models`);

  const t2 = Date.now();
  const rebuilt = await rebuildReadModels(infra.pool, infra.readModelSchema, allEvents(infra), { history: infra.history });
  result.read_model_events = rebuilt.events;
  result.seconds.read_models = secs(t2);
  say(`${rebuilt.events} events projected into ${infra.readModelSchema} in ${result.seconds.read_models} s; relaying what Kafka lacks`);

  const t3 = Date.now();
  const pending = (await infra.pool.query<{ event_id: string }>(`SELECT event_id FROM ${infra.schema}.delivery_ledger WHERE status = 'pending' ORDER BY position`)).rows.map((r) => r.event_id);
  for (let i = 0; i < pending.length; i += RELAY_CHUNK) {
    const chunk = pending.slice(i, i + RELAY_CHUNK);
    try {
      await infra.relay.publishThrough(chunk);
      result.relayed += chunk.length;
    } catch (err) {
      // A stream held behind an event the ledger refused: the rest of the chunk went out.
      if (!(err instanceof PredecessorNotDelivered)) throw err;
      result.not_relayed.push(...err.blocked);
      result.relayed += chunk.length - err.blocked.length;
    }
  }
  result.seconds.relay = secs(t3);
  result.seconds.total = secs(t0);
  say(`${result.relayed} events relayed in ${result.seconds.relay} s; recovered in ${result.seconds.total} s`);
  return result;
}

async function* allEvents(infra: Infrastructure): AsyncGenerator<EventEnvelope> {
  let from: string | undefined;
  for (;;) {
    const page = await infra.s3Store.readAll({ from, limit: 1000 });
    for (const e of await infra.personalData.cipher.open(page.events.map((s) => s.envelope))) yield e;
    from = page.checkpoint ?? from;
    if (!page.hasMore) return;
  }
}

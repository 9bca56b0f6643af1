/**
 * The relay: publishes recorded events to Kafka and marks their ledger rows delivered only after
 * the broker acknowledged them. Per aggregate, Kafka order equals version order: an event goes out
 * only once its predecessor is delivered, or together with it in the same ordered batch.
 */
import { context, propagation } from '@opentelemetry/api';
import { spiceMetrics } from '../../contracts/metrics';
import type { Kafka, Message, Producer, ProducerConfig, RecordMetadata } from 'kafkajs';
import type { DeliveryLedger, PublishRow } from '../postgres/ledger';
import type { Delivery, LedgerRow } from '../../ports/ledger';
import { EventNotRecordedError, KafkaPublishError, PredecessorNotDelivered, type Relay } from '../../ports/relay';
import { streamKey } from '../../contracts/event-envelope';
import { crashPoint } from '../../lib/crash-points';
import { createIdempotentProducer, recordingPartitioner } from './kafka';
import { encodeEventMessage, HEADER_AGGREGATE_VERSION, HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION, schemaVersionOf } from '../../contracts/kafka-message';

export interface PublishResult {
  published: Delivery[];
  /** Delivered earlier (by a previous attempt or a concurrent publisher): nothing sent again. */
  alreadyDelivered: string[];
}

export interface RelayOptions {
  ledger: DeliveryLedger;
  kafka: Kafka;
  maxMessageBytes: number;
  producer?: Partial<ProducerConfig>;
  /** How long a claim holds rows for their publisher (default 15 s): longer than a healthy send. */
  claimLeaseMs?: number;
  /** How long publish waits for rows another publisher holds before it throws PredecessorNotDelivered (default 2 s). */
  claimWaitMs?: number;
}

const DEFAULT_CLAIM_LEASE_MS = 15_000;
const DEFAULT_CLAIM_WAIT_MS = 2_000;
const CLAIM_POLL_MS = 10;
const MAX_CLAIM_POLL_MS = 200;

export type PublishInput = string | Pick<LedgerRow, 'eventId'>;

interface Outgoing {
  row: PublishRow;
  message: Message;
  bytes: number;
}

export class KafkaRelay implements Relay {
  private producer: Promise<Producer> | null = null;
  private readonly partitions = new WeakMap<object, number>();

  constructor(private readonly options: RelayOptions) {}

  /** Connects the shared producer now rather than on the first publish. */
  async start(): Promise<void> {
    await this.connected();
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = null;
    if (p) await (await p.catch(() => null))?.disconnect();
  }

  /**
   * Publishes what is publishable, records its delivery, then throws PredecessorNotDelivered for
   * what had to wait, so one blocked stream does not hold back the others.
   *
   * Claim, release, send, mark: the rows are read and claimed (claimed_until, a lease) in single
   * statements, the pool connection goes back before Kafka is written, and the delivery is marked
   * (and the claim cleared) in one statement after the ack. Holding a connection and the rows'
   * locks across the send starved every other stream and read of the pool while Kafka was slow.
   * Rows another publisher holds are waited for here, briefly, without a connection; a publisher
   * that died leaves its claim to lapse, and a send slower than the lease may be repeated by
   * another publisher (a duplicate consumers drop by event-id; the ledger keeps the first offset).
   */
  async publish(input: PublishInput[]): Promise<PublishResult> {
    const ids = [...new Set(input.map((i) => (typeof i === 'string' ? i : i.eventId)))];
    const result: PublishResult = { published: [], alreadyDelivered: [] };
    if (ids.length === 0) return result;
    const deadline = Date.now() + (this.options.claimWaitMs ?? DEFAULT_CLAIM_WAIT_MS);
    let todo = ids;
    let pause = CLAIM_POLL_MS;
    for (;;) {
      const round = await this.publishOnce(todo);
      result.published.push(...round.published);
      result.alreadyDelivered.push(...round.alreadyDelivered);
      if (round.blocked.length && round.heldElsewhere && Date.now() < deadline) {
        todo = round.blocked;
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, MAX_CLAIM_POLL_MS);
        continue;
      }
      if (round.blocked.length) throw new PredecessorNotDelivered(round.blocked, result.published.length);
      if (round.missing.length) throw new EventNotRecordedError(round.missing);
      return result;
    }
  }

  private async publishOnce(ids: string[]): Promise<PublishResult & { blocked: string[]; missing: string[]; heldElsewhere: boolean }> {
    const { ledger } = this.options;
    const rows = await ledger.forPublish(ids);
    const found = new Set(rows.map((r) => r.eventId));
    const missing = ids.filter((id) => !found.has(id));
    const alreadyDelivered = rows.filter((r) => r.status === 'delivered').map((r) => r.eventId);
    const open = rows.filter((r) => r.status !== 'delivered');
    const wanted = orderForStreams(open).sendable;
    const claimed = await ledger.claim(
      wanted.map((r) => r.eventId),
      this.options.claimLeaseMs ?? DEFAULT_CLAIM_LEASE_MS,
    );
    // A row another publisher claimed in between holds back its stream's later rows too.
    const { sendable, blocked } = orderForStreams(open.map((r) => ({ ...r, claimedElsewhere: r.claimedElsewhere || (wanted.includes(r) && !claimed.has(r.eventId)) })));
    await ledger.releaseClaims(blocked.filter((r) => claimed.has(r.eventId)).map((r) => r.eventId));
    const heldElsewhere = open.some((r) => r.claimedElsewhere || (wanted.includes(r) && !claimed.has(r.eventId)));

    const published: Delivery[] = [];
    let failure: unknown = null;
    try {
      for (const chunk of chunks(
        sendable.map((r) => this.outgoing(r)),
        this.options.maxMessageBytes,
      )) {
        published.push(...(await this.send(chunk)));
      }
    } catch (err) {
      failure = err;
    }
    if (published.length) crashPoint('after-kafka-ack', new Set(sendable.map((r) => r.aggregateId)));
    await ledger.markDelivered(ledger.pool, published);
    spiceMetrics().eventsRelayed.inc(published.length);
    const sent = new Set(published.map((d) => d.eventId));
    const unsent = sendable.filter((r) => !sent.has(r.eventId)).map((r) => r.eventId);
    if (failure) {
      await ledger.markAttemptFailed(ledger.pool, unsent, errorText(failure));
      // A send that timed out may still be written by the broker later; an idempotent producer
      // would then take our next, different batch at the same sequence number for a duplicate and
      // drop it. A fresh producer (new producer id) turns that case into a harmless duplicate.
      this.reset();
      throw new KafkaPublishError(`Kafka publish failed (${unsent.length} event(s) left pending): ${errorText(failure)}`, unsent, failure);
    }
    return { published, alreadyDelivered, blocked: blocked.map((r) => r.eventId), missing, heldElsewhere };
  }

  /** Publishes the events together with any undelivered predecessors in their streams, in stream order. */
  async publishThrough(eventIds: string[]): Promise<PublishResult> {
    return this.publish(await this.options.ledger.withPendingPredecessors(eventIds));
  }

  private outgoing(row: PublishRow): Outgoing {
    const { value } = encodeEventMessage(row.payload, row.s3Reference, row.storageMode, this.options.maxMessageBytes);
    const message: Message = {
      key: row.key,
      value,
      headers: {
        [HEADER_EVENT_ID]: row.eventId,
        [HEADER_EVENT_TYPE]: row.eventType,
        [HEADER_AGGREGATE_VERSION]: String(row.aggregateVersion),
        [HEADER_SCHEMA_VERSION]: String(schemaVersionOf(row.payload)),
      },
    };
    // W3C `traceparent` of the publishing span (the command's trace): consumers continue it.
    propagation.inject(context.active(), message.headers);
    return { row, message, bytes: Buffer.byteLength(value) + row.key.length + 256 };
  }

  /** One sendBatch; offsets follow from each partition's base offset and the order within it. */
  private async send(batch: Outgoing[]): Promise<Delivery[]> {
    const producer = await this.connected();
    const byTopic = new Map<string, Outgoing[]>();
    for (const o of batch) byTopic.set(o.row.topic, [...(byTopic.get(o.row.topic) ?? []), o]);
    const metadata = await producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, out]) => ({ topic, messages: out.map((o) => o.message) })),
    });
    const base = new Map<string, RecordMetadata>(metadata.map((m) => [`${m.topicName}\u0000${m.partition}`, m]));
    const seen = new Map<string, number>();
    return batch.map((o) => {
      const partition = this.partitions.get(o.message);
      const k = `${o.row.topic}\u0000${partition}`;
      const meta = base.get(k);
      if (partition === undefined || !meta?.baseOffset) throw new Error(`no produce acknowledgement for event ${o.row.eventId}`);
      const index = seen.get(k) ?? 0;
      seen.set(k, index + 1);
      return { eventId: o.row.eventId, partition, offset: (BigInt(meta.baseOffset) + BigInt(index)).toString() };
    });
  }

  private connected(): Promise<Producer> {
    if (!this.producer) {
      const producer = createIdempotentProducer(this.options.kafka, {
        ...this.options.producer,
        createPartitioner: recordingPartitioner(this.partitions),
      });
      const ready = producer.connect().then(() => producer);
      ready.catch(() => {
        if (this.producer === ready) this.producer = null;
        // A connect that timed out on an unresponsive broker keeps its socket open otherwise.
        producer.disconnect().catch(() => undefined);
      });
      this.producer = ready;
    }
    return this.producer;
  }

  private reset(): void {
    const old = this.producer;
    this.producer = null;
    old?.then((p) => p.disconnect()).catch(() => undefined);
  }
}

export function createRelay(options: RelayOptions): KafkaRelay {
  return new KafkaRelay(options);
}

/**
 * Splits rows into what may go out now, in version order per stream, and what must wait: a row is
 * sendable when no other publisher holds it and it is version 1, its predecessor is delivered, or
 * its predecessor is sendable in this same batch (ahead of it, and sent by one producer with one
 * request in flight).
 */
export function orderForStreams(rows: PublishRow[]): { sendable: PublishRow[]; blocked: PublishRow[] } {
  const streams = new Map<string, PublishRow[]>();
  for (const r of rows) {
    const k = streamKey(r.aggregateType, r.aggregateId);
    streams.set(k, [...(streams.get(k) ?? []), r]);
  }
  const sendable: PublishRow[] = [];
  const blocked: PublishRow[] = [];
  for (const stream of streams.values()) {
    stream.sort((a, b) => a.aggregateVersion - b.aggregateVersion);
    let prev: PublishRow | null = null;
    let ok = true;
    for (const r of stream) {
      ok = ok && !r.claimedElsewhere && (r.aggregateVersion === 1 || (prev !== null && prev.aggregateVersion === r.aggregateVersion - 1) || r.predecessorStatus === 'delivered');
      (ok ? sendable : blocked).push(r);
      prev = r;
    }
  }
  return { sendable, blocked };
}

/** Keeps each request under the broker's limit: it applies to a whole record batch, not one message. */
function chunks(out: Outgoing[], maxBytes: number): Outgoing[][] {
  const result: Outgoing[][] = [];
  let current: Outgoing[] = [];
  let size = 0;
  for (const o of out) {
    if (current.length && size + o.bytes > maxBytes) {
      result.push(current);
      current = [];
      size = 0;
    }
    current.push(o);
    size += o.bytes;
  }
  if (current.length) result.push(current);
  return result;
}

function errorText(err: unknown): string {
  const e = err as { name?: string; message?: string; type?: string };
  return `${e?.name ?? 'Error'}${e?.type ? ` ${e.type}` : ''}: ${e?.message ?? String(err)}`;
}

/** Observers of what each path delivered: first arrival and per-key order on Kafka, arrival in the read model. */
import { Kafka } from 'kafkajs';
import { Pool } from 'pg';
import type { Rec } from './records';
import { ONTO_DB, now } from './options';

export class KafkaTracker {
  first = new Map<string, number>();
  dups = 0;
  /** per key: versions of first occurrences, in arrival order */
  order = new Map<string, number[]>();
  private consumer;
  constructor(
    kafka: Kafka,
    private topic: string,
  ) {
    this.consumer = kafka.consumer({ groupId: `${topic}-bench-observer`, maxWaitTimeInMs: 20, minBytes: 1 });
  }
  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      eachBatch: async ({ batch }) => {
        const t = now();
        for (const m of batch.messages) {
          const id = String(m.headers?.['event-id'] ?? '');
          if (this.first.has(id)) {
            this.dups++;
            continue;
          }
          this.first.set(id, t);
          const key = String(m.key);
          const list = this.order.get(key) ?? [];
          list.push(Number(String(m.headers?.['aggregate-version'] ?? 'NaN')));
          this.order.set(key, list);
        }
      },
    });
  }
  async stop(): Promise<void> {
    await this.consumer.disconnect().catch(() => undefined);
  }
}

export class ReadModelWatcher {
  private pending = new Map<string, { version: number; recs: Rec[] }>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  constructor(
    private pool: Pool,
    private rmSchema: string,
  ) {}
  watch(rec: Rec, version: number): void {
    const p = this.pending.get(rec.instance);
    if (p) {
      p.recs.push(rec);
      p.version = Math.min(p.version, version);
    } else this.pending.set(rec.instance, { version, recs: [rec] });
  }
  start(): void {
    this.timer = setInterval(() => void this.tick(), 10);
  }
  stop(): void {
    clearInterval(this.timer);
  }
  get size(): number {
    return this.pending.size;
  }
  private async tick(): Promise<void> {
    if (this.busy || this.pending.size === 0) return;
    this.busy = true;
    try {
      const ids = [...this.pending.keys()].slice(0, 5000);
      const { rows } = await this.pool.query(`SELECT instance_id, version FROM ${this.rmSchema}.instances WHERE db_name = $1 AND instance_id = ANY($2)`, [ONTO_DB, ids]);
      const t = now();
      for (const r of rows) {
        const p = this.pending.get(r.instance_id);
        if (!p) continue;
        const keep: Rec[] = [];
        for (const rec of p.recs) {
          if (r.version >= (rec.version ?? Infinity)) rec.tRm ??= t;
          else keep.push(rec);
        }
        if (keep.length === 0) this.pending.delete(r.instance_id);
        else p.recs = keep;
      }
    } catch {
      /* retry next tick */
    } finally {
      this.busy = false;
    }
  }
}

import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { Pool } from 'pg';
import { Producer } from 'kafkajs';

export interface SmokeDeps {
  s3: S3Client;
  bucket: string;
  pool: Pool;
  table: string;
  producer: Producer;
  topic: string;
}

export function createSmokeActivities(d: SmokeDeps) {
  return {
    async putObject(id: string): Promise<string> {
      const r = await d.s3.send(new PutObjectCommand({ Bucket: d.bucket, Key: `smoke/${id}.json`, Body: JSON.stringify({ id }), IfNoneMatch: '*' }));
      return r.ETag ?? '';
    },
    async insertRow(id: string): Promise<number> {
      const r = await d.pool.query(`INSERT INTO ${d.table} (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET id = EXCLUDED.id RETURNING n`, [id]);
      return Number(r.rows[0].n);
    },
    async publish(id: string): Promise<string> {
      const [r] = await d.producer.send({ topic: d.topic, acks: -1, messages: [{ key: id, value: JSON.stringify({ id }) }] });
      return String(r.baseOffset ?? r.offset);
    },
  };
}

export type SmokeActivities = ReturnType<typeof createSmokeActivities>;

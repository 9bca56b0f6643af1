/**
 * Command bodies too large for a Temporal payload (bulk), and the batches a bulk command is split
 * into, kept in S3 and passed to workflows and activities by reference.
 */
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import { Upload } from '@aws-sdk/lib-storage';
import type { BlobStore, BlobUpload } from '../../ports/blobs';
import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Reference } from '../../contracts/event-envelope';
import { getText, putObject } from './s3-client';
import { mapLimit } from '../../lib/map-limit';

export class CommandBlobStore implements BlobStore {
  constructor(private readonly o: { client: S3Client; bucket: string; endpoint: string; prefix?: string }) {}

  private ref(key: string): S3Reference {
    return { bucket: this.o.bucket, key: `${this.o.prefix ?? ''}${key}`, endpoint: this.o.endpoint, event_id: '' };
  }

  /** Command ids are validated by the API (UUIDs); nothing else reaches these keys. */
  bodyOf(commandId: string, requestHash: string): S3Reference {
    return this.ref(`commands/${commandId}/body-${requestHash}.json`);
  }

  /**
   * A body written piece by piece, sent in parts of 5 MiB as it comes (a multipart upload; one
   * PUT at the end when it stays smaller). Until `complete` nothing is readable at the key, and
   * `abort` leaves nothing readable there either: the parts already sent are discarded.
   */
  openUpload(ref: S3Reference): BlobUpload {
    const body = new PassThrough();
    const upload = new Upload({ client: this.o.client, params: { Bucket: ref.bucket, Key: ref.key, Body: body, ContentType: 'application/json' }, queueSize: 2, leavePartsOnError: false });
    const done = upload.done();
    // A failed part must not surface as an unhandled rejection before complete() or abort() awaits it.
    done.catch(() => undefined);
    let failed: unknown;
    body.on('error', (err) => (failed ??= err));
    return {
      write: async (piece) => {
        if (failed !== undefined) throw failed;
        // Back-pressure: the reader of the request waits while the parts in flight are full.
        if (!body.write(piece)) await Promise.race([once(body, 'drain'), done]);
      },
      complete: async () => {
        body.end();
        await done;
      },
      abort: async () => {
        await upload.abort().catch(() => undefined);
        body.destroy();
        await done.catch(() => undefined);
      },
    };
  }

  planOf(commandId: string): S3Reference {
    return this.ref(`commands/${commandId}/plan.json`);
  }

  batchOf(commandId: string, batch: number): S3Reference {
    return this.ref(`commands/${commandId}/batches/${String(batch).padStart(6, '0')}.json`);
  }

  async putJson(ref: S3Reference, body: unknown): Promise<void> {
    await putObject(this.o.client, ref.bucket, ref.key, JSON.stringify(body));
  }

  async putMany(items: { ref: S3Reference; body: unknown }[]): Promise<void> {
    await mapLimit(items, 16, (i) => this.putJson(i.ref, i.body));
  }

  async getJson<T = unknown>(ref: S3Reference): Promise<T> {
    const v = await this.getJsonIfExists<T>(ref);
    if (v === undefined) throw new Error(`command blob not found: s3://${ref.bucket}/${ref.key}`);
    return v;
  }

  async getJsonIfExists<T = unknown>(ref: S3Reference): Promise<T | undefined> {
    const text = await getText(this.o.client, ref.bucket, ref.key);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  }
}

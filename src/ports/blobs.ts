/** Large command bodies and bulk plans in S3 (src/adapters/s3/command-blobs.ts): Temporal payloads stay small. */
import type { S3Reference } from '../contracts/event-envelope';

/** A blob written as it is produced: readable at its key only once completed. */
export interface BlobUpload {
  write(piece: string): Promise<void>;
  complete(): Promise<void>;
  /** Nothing is readable at the key afterwards. */
  abort(): Promise<void>;
}

export interface BlobStore {
  planOf(commandId: string): S3Reference;
  batchOf(commandId: string, batch: number): S3Reference;
  putJson(ref: S3Reference, body: unknown): Promise<void>;
  putMany(items: { ref: S3Reference; body: unknown }[]): Promise<void>;
  getJson<T = unknown>(ref: S3Reference): Promise<T>;
  getJsonIfExists<T = unknown>(ref: S3Reference): Promise<T | undefined>;
}

/**
 * The S3 client of spice-oms and the few primitives the event store builds on. Works with MinIO
 * (path-style) and AWS S3. A keep-alive agent with many sockets keeps an append at two round
 * trips without TCP/TLS handshakes.
 */
import http from 'node:http';
import https from 'node:https';
import {
  CreateBucketCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** The fields of the app's config the client needs (adapters never import the config module itself). */
export interface S3ClientConfig {
  s3Endpoint: string;
  S3_ACCESS_KEY: string;
  S3_SECRET_KEY: string;
  S3_REGION: string;
  /** 'static' signs with S3_ACCESS_KEY/S3_SECRET_KEY; 'default-chain' leaves it to the SDK (IAM role, IRSA, env, profile). */
  S3_CREDENTIALS?: 'static' | 'default-chain';
  /** Path-style (MinIO, the default) or virtual-hosted-style requests (AWS's preferred addressing). */
  S3_FORCE_PATH_STYLE?: boolean;
}

export interface S3ClientOptions {
  /** Sockets per agent (default 64). */
  maxSockets?: number;
  /** SDK attempts for retryable (5xx / network) failures (default 3). */
  maxAttempts?: number;
  requestTimeoutMs?: number;
}

export function createS3Client(config: S3ClientConfig, options: S3ClientOptions = {}): S3Client {
  // The SDK's notice that its releases after January 2027 need Node.js 22 is for the maintainers
  // (README: "Node.js version"), nothing a user can act on: switched off the way AWS documents.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const maxSockets = options.maxSockets ?? 64;
  return new S3Client({
    endpoint: config.s3Endpoint,
    region: config.S3_REGION || 'us-east-1',
    // Omitted credentials make the SDK walk its default provider chain, which is how IAM roles reach a pod or an instance.
    credentials: config.S3_CREDENTIALS === 'default-chain' ? undefined : { accessKeyId: config.S3_ACCESS_KEY, secretAccessKey: config.S3_SECRET_KEY },
    forcePathStyle: config.S3_FORCE_PATH_STYLE ?? true,
    maxAttempts: options.maxAttempts ?? 3,
    // No CRC trailers: bodies are small JSON and SigV4 already signs the payload hash.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({
      httpAgent: new http.Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 10_000 }),
      httpsAgent: new https.Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 10_000 }),
      connectionTimeout: 5_000,
      // A server that stops answering (socket idle this long) fails the request, so the activity
      // fails and Temporal retries it, instead of hanging until the activity's own timeout.
      requestTimeout: options.requestTimeoutMs ?? 10_000,
      throwOnRequestTimeout: true,
    }),
  });
}

function meta(e: unknown): { name: string; status: number | undefined; code: string | undefined } {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return { name: err?.name ?? '', status: err?.$metadata?.httpStatusCode, code: err?.Code };
}

export function isNotFound(e: unknown): boolean {
  const m = meta(e);
  return m.status === 404 || m.name === 'NoSuchKey' || m.name === 'NotFound' || m.name === 'NoSuchBucket';
}

/** 412: the object exists (the conditional PUT lost). */
export function isPreconditionFailed(e: unknown): boolean {
  const m = meta(e);
  return m.status === 412 || m.name === 'PreconditionFailed';
}

/** 409 from a conditional write racing another one in flight (MinIO/AWS ConditionalRequestConflict). */
export function isConditionalConflict(e: unknown): boolean {
  const m = meta(e);
  return m.name === 'ConditionalRequestConflict' || (m.status === 409 && m.name !== 'BucketAlreadyOwnedByYou' && m.name !== 'BucketAlreadyExists');
}

export function isNotImplemented(e: unknown): boolean {
  const m = meta(e);
  return m.status === 501 || m.name === 'NotImplemented' || m.code === 'NotImplemented';
}

/** Creates the bucket if missing and enables versioning where the server supports it. */
export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch (e) {
    if (!isNotFound(e)) throw e;
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (c) {
      const m = meta(c);
      if (m.name !== 'BucketAlreadyOwnedByYou' && m.name !== 'BucketAlreadyExists') throw c;
    }
  }
  try {
    const v = await client.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    if (v.Status !== 'Enabled') {
      await client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    }
  } catch (e) {
    if (!isNotImplemented(e)) throw e;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type PutIfAbsentResult = { created: true; etag: string | undefined } | { created: false };

/**
 * PUT with `If-None-Match: *`. created=false on 412. A 409 means another conditional write of the
 * same key is in flight: wait briefly and retry, so the answer settles to created / exists.
 */
export async function putIfAbsent(client: S3Client, bucket: string, key: string, body: string): Promise<PutIfAbsentResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json', IfNoneMatch: '*' }));
      return { created: true, etag: r.ETag };
    } catch (e) {
      if (isPreconditionFailed(e)) return { created: false };
      if (isConditionalConflict(e)) {
        if (attempt >= 8) return { created: false };
        await sleep(2 + Math.random() * 4 * (attempt + 1));
        continue;
      }
      throw e;
    }
  }
}

/** Overwrites only if the object still has this ETag; undefined when it changed or vanished. */
export async function putIfMatch(client: S3Client, bucket: string, key: string, body: string, etag: string): Promise<string | undefined> {
  try {
    const r = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json', IfMatch: etag }));
    return r.ETag ?? '';
  } catch (e) {
    if (isPreconditionFailed(e) || isNotFound(e) || isConditionalConflict(e) || isNotImplemented(e)) return undefined;
    throw e;
  }
}

export async function putObject(client: S3Client, bucket: string, key: string, body: string): Promise<string | undefined> {
  const r = await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }));
  return r.ETag;
}

/** The object's text, or undefined when it does not exist. */
export async function getText(client: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return r.Body ? await r.Body.transformToString('utf8') : '';
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** The object's text and ETag (for a later putIfMatch), or undefined when it does not exist. */
export async function getWithEtag(client: S3Client, bucket: string, key: string): Promise<{ text: string; etag: string } | undefined> {
  try {
    const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { text: r.Body ? await r.Body.transformToString('utf8') : '', etag: r.ETag ?? '' };
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** Lists keys under a prefix in key order, starting after startAfter, until `max` keys or the end. */
export async function listKeys(client: S3Client, bucket: string, prefix: string, opts: { startAfter?: string; max?: number } = {}): Promise<{ objects: _Object[]; truncated: boolean }> {
  const max = opts.max ?? Number.POSITIVE_INFINITY;
  const objects: _Object[] = [];
  let token: string | undefined;
  for (;;) {
    const r = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        StartAfter: token ? undefined : opts.startAfter,
        ContinuationToken: token,
        MaxKeys: Math.min(1000, Math.max(1, max - objects.length)),
      }),
    );
    for (const o of r.Contents ?? []) objects.push(o);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
    if (!token) return { objects, truncated: false };
    if (objects.length >= max) return { objects, truncated: true };
  }
}

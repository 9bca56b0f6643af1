/**
 * Least privilege in the local stack: the application talks to MinIO as its own user, whose
 * policy reaches its bucket only and can read and write objects but never delete them (the event
 * store is append-only). Done with MinIO's client `mc` as the root user, idempotently, at every
 * `up`. No secret is ever on a command line: the alias comes from MC_HOST_<alias> in mc's
 * environment and the new user's secret from its stdin.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../src/app/config';
import { runQuiet } from './proc';

const ALIAS = 'spice';
export const APP_POLICY = 'spice-oms-app';

/** The policy of the application's user; README "Least privilege" shows the same for AWS S3. */
export function appPolicy(bucket: string): object {
  const arn = `arn:aws:s3:::${bucket}`;
  return {
    Version: '2012-10-17',
    Statement: [
      // Versioning is the stack's to enable (below); the application only checks it.
      { Effect: 'Allow', Action: ['s3:ListBucket', 's3:GetBucketLocation', 's3:GetBucketVersioning', 's3:CreateBucket'], Resource: [arn] },
      // Aborting a multipart upload discards parts that were never readable: a refused bulk body leaves nothing.
      { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], Resource: [`${arn}/*`] },
      // Explicit, so no other policy attached later can grant it by accident.
      {
        Effect: 'Deny',
        Action: ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:DeleteBucket', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutLifecycleConfiguration'],
        Resource: [arn, `${arn}/*`],
      },
    ],
  };
}

export interface MinioAdmin {
  mcBin: string;
  /** mc's own config directory (aliases, certificates): kept inside the stack's cache. */
  configDir: string;
}

function mcEnv(cfg: Config, o: MinioAdmin): NodeJS.ProcessEnv {
  const url = new URL(`http://${cfg.SPICE_HOST}:${cfg.MINIO_PORT}`);
  url.username = encodeURIComponent(cfg.MINIO_ROOT_USER);
  url.password = encodeURIComponent(cfg.MINIO_ROOT_PASSWORD);
  return { ...process.env, [`MC_HOST_${ALIAS}`]: url.toString().replace(/\/$/, ''), MC_CONFIG_DIR: o.configDir };
}

async function mc(cfg: Config, o: MinioAdmin, args: string[], input?: string, tolerate?: RegExp): Promise<void> {
  const r = await runQuiet(o.mcBin, ['--no-color', '--disable-pager', ...args], 30_000, { env: mcEnv(cfg, o), ...(input !== undefined ? { input } : {}) });
  if (!r.ok && !(tolerate?.test(r.output) ?? false)) throw new Error(`minio: mc ${args.slice(0, 3).join(' ')} failed: ${r.output.trim().split('\n').pop()}`);
}

/** Bucket (versioned), policy, the application's user and the attachment; each step may already be done. */
export async function provisionMinioAppUser(cfg: Config, o: MinioAdmin): Promise<void> {
  if (cfg.S3_ACCESS_KEY === cfg.MINIO_ROOT_USER) throw new Error('minio: S3_ACCESS_KEY must not be the root user (MINIO_ROOT_USER); give the application its own user');
  fs.mkdirSync(o.configDir, { recursive: true, mode: 0o700 });
  const policyFile = path.join(o.configDir, `${APP_POLICY}.json`);
  fs.writeFileSync(policyFile, JSON.stringify(appPolicy(cfg.S3_BUCKET), null, 2));
  await mc(cfg, o, ['mb', '--ignore-existing', `${ALIAS}/${cfg.S3_BUCKET}`]);
  await mc(cfg, o, ['version', 'enable', `${ALIAS}/${cfg.S3_BUCKET}`]);
  await mc(cfg, o, ['admin', 'policy', 'create', ALIAS, APP_POLICY, policyFile]);
  // Without access and secret key arguments mc reads both from stdin, one per line.
  await mc(cfg, o, ['admin', 'user', 'add', ALIAS], `${cfg.S3_ACCESS_KEY}\n${cfg.S3_SECRET_KEY}\n`);
  await mc(cfg, o, ['admin', 'policy', 'attach', ALIAS, APP_POLICY, '--user', cfg.S3_ACCESS_KEY], undefined, /already (been )?(attached|applied|mapped)/i);
}

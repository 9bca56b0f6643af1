/**
 * The benchmark's short mode in the suite (issue 18 item 7): `bench/run.ts` runs the workflow and
 * the direct path for a few seconds each, checks its invariants on what they wrote, and leaves
 * nothing behind: no database, bucket, topic or reconciliation schedule of its run, and no tracked
 * file changed (the chart is copied only with --chart).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { Client, Connection } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import { Pool } from 'pg';
import { createS3Client } from '../../src/adapters/s3/s3-client';
import { temporalConnectionOptions } from '../../src/app/temporal-connection';
import { testConfig } from '../support/env';

const ROOT = path.resolve(__dirname, '..', '..');

test('a short benchmark run: both paths pass their invariants, and the run removes its databases, buckets, topics and schedule', async () => {
  const chart = fs.readFileSync(path.join(ROOT, 'bench', 'latest-chart.svg'), 'utf8');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--require', 'tsx/cjs', 'bench/run.ts', '--paths', 'workflow,direct', '--levels', '1', '--no-hot', '--no-bulk', '--measure', '2', '--warmup', '1'],
    { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn' }, maxBuffer: 32 * 1024 * 1024, timeout: 600_000 },
  );
  const run = /results: bench\/results\/(b[0-9a-z]+)\.json/.exec(stdout)?.[1];
  expect(run).toBeDefined();
  const report = JSON.parse(fs.readFileSync(path.join(ROOT, 'bench', 'results', `${run}.json`), 'utf8'));
  expect(report.violations).toEqual([]);
  expect(report.error).toBeUndefined();
  expect(report.results.map((r: { path: string; concurrency: number }) => `${r.path}@${r.concurrency}`).sort()).toEqual(['direct@1', 'workflow@1']);
  for (const r of report.results) expect([r.path, r.commands > 0, r.errors]).toEqual([r.path, true, 0]);
  expect(fs.readFileSync(path.join(ROOT, 'bench', 'latest-chart.svg'), 'utf8')).toBe(chart);

  const owner = new Pool({ connectionString: testConfig.databaseOwnerUrl, max: 1 });
  const s3 = createS3Client({ ...testConfig, S3_ACCESS_KEY: testConfig.MINIO_ROOT_USER, S3_SECRET_KEY: testConfig.MINIO_ROOT_PASSWORD });
  const admin = new Kafka({ clientId: 'bench-short-test', brokers: testConfig.kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
  const connection = await Connection.connect(temporalConnectionOptions(testConfig));
  try {
    const dbs = await owner.query(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`spice\\_bench\\_${run}%`]);
    expect(dbs.rows).toEqual([]);
    const buckets = ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name).filter((b) => b?.startsWith(`spice-bench-${run}`));
    expect(buckets).toEqual([]);
    await admin.connect();
    expect((await admin.listTopics()).filter((t) => t.startsWith(`bench-${run}-`))).toEqual([]);
    const schedules: string[] = [];
    for await (const s of new Client({ connection, namespace: testConfig.TEMPORAL_NAMESPACE }).schedule.list()) if (s.scheduleId.includes(run!)) schedules.push(s.scheduleId);
    expect(schedules).toEqual([]);
  } finally {
    await owner.end();
    s3.destroy();
    await admin.disconnect();
    await connection.close();
  }
}, 600_000);

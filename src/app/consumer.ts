/**
 * A consumer process: `npm run consumer -- <name>` runs one of the consumers that ship with
 * spice-oms (today: `audit`) until SIGINT/SIGTERM, on the consumer kit (src/consumer-kit).
 * `npm run consumer -- <name> dead-letters [--json]` lists the group's dead letters and
 * `... replay <id...>|--all` sends them back to the running consumer (through its replay topic).
 */
import type { Pool } from 'pg';
import { loadConfig, type Config } from './config';
import { createLogger } from './logger';
import { serveProcessMetrics } from './metrics-server';
import { DEFAULT_SCHEMA } from '../adapters/postgres/migrations';
import { createOwnerPool } from '../adapters/postgres/postgres';
import { createKafka } from '../adapters/kafka/kafka';
import { migrateAuditLog, PgAuditLog } from '../adapters/postgres/audit-log';
import { ConsumerConfigError, ConsumerStore, migrateConsumerStore, replayDeadLetters, startConsumer, type DeadLetter, type StartedConsumer, type StartOptions } from '../consumer-kit';

type Definition = (schema: string) => Pick<StartOptions, 'group' | 'handle' | 'setup'>;

/** The consumers that ship with spice-oms, by the name `npm run consumer -- <name>` takes. */
export const CONSUMERS: Record<string, Definition> = {
  /** Every change per database into its own table, served at GET /api/v1/databases/{db}/audit. */
  audit: (schema) => {
    let log: PgAuditLog | undefined;
    return {
      group: 'spice-oms-audit',
      setup: async (pool: Pool, ownerPool: Pool) => {
        await migrateAuditLog(ownerPool, schema);
        log = new PgAuditLog(pool, schema);
      },
      handle: (event, tx) => log!.record(tx, event.envelope),
    };
  },
};

export interface ConsumerProcessOptions {
  /** The ledger's schema, where the audit table and the kit's tables live (tests give their own). */
  schema?: string;
  topic?: string;
  s3Prefix?: string;
  /** Consumer group id (default: the consumer's own). */
  group?: string;
}

function definitionOf(name: string): Definition {
  const def = CONSUMERS[name];
  if (def === undefined) throw new ConsumerConfigError(`unknown consumer '${name}'; known: ${Object.keys(CONSUMERS).join(', ')}`);
  return def;
}

export async function startNamedConsumer(config: Config, name: string, o: ConsumerProcessOptions = {}): Promise<StartedConsumer> {
  const schema = o.schema ?? DEFAULT_SCHEMA;
  const def = definitionOf(name)(schema);
  return startConsumer(config, {
    ...def,
    ...(o.group ? { group: o.group } : {}),
    ...(o.topic ? { topic: o.topic } : {}),
    ...(o.s3Prefix ? { s3Prefix: o.s3Prefix } : {}),
    schema,
    maxAttempts: config.CONSUMER_MAX_ATTEMPTS,
    logger: createLogger(config.LOG_LEVEL, `consumer-${name}`),
  });
}

/** The dead letters of a consumer's group: listed, or replayed (some by id, or all). */
export async function deadLetterCommand(config: Config, name: string, o: { replay?: number[] | 'all'; schema?: string; topic?: string; group?: string }): Promise<DeadLetter[]> {
  const schema = o.schema ?? DEFAULT_SCHEMA;
  const group = o.group ?? definitionOf(name)(schema).group;
  // An operator's command, like the ops CLI: as the owner, which may create the kit's tables.
  const pool = createOwnerPool(config);
  try {
    await migrateConsumerStore(pool, schema);
    const store = new ConsumerStore(pool, schema);
    if (o.replay === undefined) return await store.listDeadLetters(group);
    return await replayDeadLetters(createKafka(config), store, { group, topic: o.topic ?? config.KAFKA_TOPIC, ...(o.replay === 'all' ? {} : { ids: o.replay }) });
  } finally {
    await pool.end();
  }
}

const USAGE = 'usage: npm run consumer -- <name> [dead-letters [--json] | replay <id...> | replay --all] [--schema <s>] [--topic <t>] [--group <g>]';

/** `--flag value` pairs out of argv, and what is left. */
function parseArgs(argv: string[]): { rest: string[]; flags: Record<string, string>; json: boolean } {
  const rest: string[] = [];
  const flags: Record<string, string> = {};
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--schema' || a === '--topic' || a === '--group') {
      const v = argv[++i];
      if (v === undefined) throw new ConsumerConfigError(USAGE);
      flags[a.slice(2)] = v;
    } else rest.push(a);
  }
  return { rest, flags, json };
}

async function main(argv: string[]): Promise<void> {
  const { rest, flags, json } = parseArgs(argv);
  const [name, command, ...args] = rest;
  if (name === undefined || name.startsWith('-')) throw new ConsumerConfigError(USAGE);
  const config = loadConfig();
  const where = { ...(flags.schema ? { schema: flags.schema } : {}), ...(flags.topic ? { topic: flags.topic } : {}), ...(flags.group ? { group: flags.group } : {}) };
  if (command === 'dead-letters' || command === 'replay') {
    const replay = command === 'dead-letters' ? undefined : args.includes('--all') ? 'all' : args.map(Number);
    if (Array.isArray(replay) && (replay.length === 0 || replay.some((id) => !Number.isSafeInteger(id) || id < 1))) throw new ConsumerConfigError(USAGE);
    const letters = await deadLetterCommand(config, name, { ...where, ...(replay !== undefined ? { replay } : {}) });
    if (json) process.stdout.write(`${JSON.stringify(letters, null, 2)}\n`);
    else if (letters.length === 0) process.stdout.write(command === 'replay' ? 'nothing to replay\n' : 'no dead letters\n');
    else for (const d of letters) process.stdout.write(`${command === 'replay' ? 'replayed ' : ''}#${d.id} ${d.dead_at} ${d.event_id} key=${d.key} ${d.code}: ${d.reason} (${d.attempts} attempts)\n`);
    return;
  }
  if (command !== undefined) throw new ConsumerConfigError(USAGE);
  const consumer = await startNamedConsumer(config, name, where);
  const metrics = config.CONSUMER_METRICS_PORT !== undefined ? await serveProcessMetrics(config.CONSUMER_METRICS_BIND_HOST, config.CONSUMER_METRICS_PORT, 'CONSUMER_METRICS_PORT') : undefined;
  process.stdout.write(`consumer ${name} started (group ${consumer.group}, topics ${consumer.topics.events}, ${consumer.topics.replay})\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  metrics?.close();
  await consumer.stop();
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`consumer: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

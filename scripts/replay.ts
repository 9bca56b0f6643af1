/**
 * Replays workflow histories against the current workflow code, for whoever changes that code:
 *
 *   npm run replay -- --workflow-id <id> [--workflow-id <id> ...]   histories fetched from Temporal
 *   npm run replay -- --query "<visibility query>"                  e.g. "CommandType='CREATE_INSTANCE'"
 *   npm run replay -- --dir <folder>                                 JSON histories (temporal workflow show --output json)
 *
 * Prints one line per run (ok / NONDETERMINISTIC / FAILED, with the workflow id) and exits 1 when
 * any run does not replay, naming those workflow ids last; 2 on a usage or connection error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import type { HistoryAndWorkflowId } from '@temporalio/common';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { loadConfig } from '../src/app/config';
import { WORKFLOW_BUNDLE_OPTIONS } from '../src/app/workflows-path';
import { workflowSinks } from '../src/app/command-worker';

const USAGE = 'usage: npm run replay -- (--workflow-id <id>... | --query "<visibility query>" | --dir <folder>) [--limit <n>]';

interface Source {
  histories: AsyncIterable<HistoryAndWorkflowId> | Iterable<HistoryAndWorkflowId>;
  close(): Promise<void>;
}

function fromDir(dir: string): Source {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new UsageError(`no .json histories in ${dir}`);
  return {
    // A file names its run: exported histories carry no workflow id of their own.
    histories: files.map((f) => ({ workflowId: path.basename(f, '.json'), history: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) })),
    close: async () => undefined,
  };
}

async function fromTemporal(ids: string[], query: string | undefined, limit: number): Promise<Source> {
  const config = loadConfig();
  const connection = await Connection.connect({ address: config.temporalAddress });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  async function* histories(): AsyncIterable<HistoryAndWorkflowId> {
    for (const workflowId of ids) yield { workflowId, history: await client.workflow.getHandle(workflowId).fetchHistory() };
    if (query === undefined) return;
    let n = 0;
    for await (const h of client.workflow.list({ query }).intoHistories()) {
      if (n++ >= limit) return;
      yield h;
    }
  }
  return { histories: histories(), close: () => connection.close() };
}

class UsageError extends Error {}

let bundled: ReturnType<typeof bundleWorkflowCode> | undefined;
/** The workflow code as the worker bundles it; once per process. */
function currentCode(): ReturnType<typeof bundleWorkflowCode> {
  const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  bundled ??= bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: quiet as never });
  return bundled;
}

export async function main(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'workflow-id': { type: 'string', multiple: true },
      query: { type: 'string' },
      dir: { type: 'string' },
      limit: { type: 'string', default: '1000' },
    },
    strict: true,
  });
  const ids = values['workflow-id'] ?? [];
  const limit = Number(values.limit);
  if ((ids.length === 0 && values.query === undefined && values.dir === undefined) || !Number.isInteger(limit) || limit < 1) throw new UsageError(USAGE);
  if (values.dir !== undefined && (ids.length > 0 || values.query !== undefined)) throw new UsageError(`--dir does not mix with --workflow-id or --query\n${USAGE}`);

  const source = values.dir !== undefined ? fromDir(values.dir) : await fromTemporal(ids, values.query, limit);
  const bundle = await currentCode();
  const broken: string[] = [];
  let total = 0;
  try {
    for await (const r of Worker.runReplayHistories({ workflowBundle: bundle, sinks: workflowSinks() }, source.histories)) {
      total += 1;
      if (!r.error) {
        out(`ok                ${r.workflowId} ${r.runId}`);
        continue;
      }
      broken.push(r.workflowId);
      const kind = r.error instanceof DeterminismViolationError || r.error.name === 'DeterminismViolationError' ? 'NONDETERMINISTIC' : 'FAILED          ';
      out(`${kind}  ${r.workflowId} ${r.runId}: ${r.error.message.split('\n')[0]}`);
    }
  } finally {
    await source.close();
  }
  out(`${total} run(s) replayed, ${broken.length} did not replay${broken.length ? `: ${broken.join(' ')}` : ''}`);
  if (total === 0) out('nothing matched: no run was replayed');
  return broken.length > 0 ? 1 : 0;
}

if (require.main === module) {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`replay: ${err instanceof UsageError ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(2);
    },
  );
}

/** How the load generator talks to each path: the shipped REST API, or the inline app's /cmd endpoint. */
import type { Child } from './processes';
import type { Rec } from './records';
import { CLASS, ONTO_DB, now, sleep } from './options';
import { loadConfig } from '../../src/app/config';

/** The API under benchmark runs on loopback with the config's development admin key. */
export const benchAuth = { authorization: `Bearer ${loadConfig().API_DEV_KEY}` };

export interface PathEnv {
  name: string;
  /** Submits one command and resolves when it is COMPLETED (or failed). */
  exec(kind: 'create' | 'update', instance: string, n: number, rec: Rec): Promise<void>;
  setup(): Promise<void>;
  /** Where the path stores: its S3 bucket, PostgreSQL schemas and key prefix. */
  bucket: string;
  schema: string;
  rmSchema: string;
  prefix: string;
  topic: string;
  children: Child[];
  commandIdsForProfile?: string[];
  apiUrl?: string;
}

const props = (n: number) => ({ n, note: `bench ${n}` });
const itemClass = {
  id: CLASS,
  label: CLASS,
  properties: [
    { name: 'n', type: 'integer', required: true },
    { name: 'note', type: 'string' },
  ],
  relationships: [],
};

export async function json(res: Response): Promise<any> {
  const t = await res.text();
  return t ? JSON.parse(t) : undefined;
}

export function restClient(api: string): Pick<PathEnv, 'exec' | 'setup'> {
  const v1 = `${api}/api/v1`;
  const wait = { 'content-type': 'application/json', prefer: 'wait=30', ...benchAuth };
  async function untilDone(res: Response, rec: Rec): Promise<void> {
    let body = await json(res);
    rec.commandId = body?.command_id;
    if (res.status === 202 && body?.command_id) {
      // The wait ran out: poll the status like a client would.
      for (;;) {
        await sleep(100);
        body = await json(await fetch(`${v1}/commands/${body.command_id}`, { headers: benchAuth }));
        if (body?.status === 'COMPLETED' || body?.status === 'FAILED') break;
      }
    }
    rec.tDone = now();
    if (body?.status !== 'COMPLETED') {
      rec.error = `${res.status} ${body?.code ?? body?.status ?? ''}`;
      return;
    }
    const ev = body.result?.events?.[0] ?? body.events?.[0];
    rec.eventId = ev?.event_id;
    rec.version = body.result?.version;
  }
  return {
    async setup() {
      // The worker may still be starting (it bundles its workflow code first), or a busy machine may
      // outlast the wait: then the setup polls like any command (untilDone).
      for (const [what, url, body] of [
        ['create database', `${v1}/databases`, { name: ONTO_DB }],
        ['create class', `${v1}/databases/${ONTO_DB}/classes`, itemClass],
      ] as const) {
        const rec: Rec = { scenario: 'setup', kind: 'create', instance: '', tSubmit: now() };
        await untilDone(await fetch(url, { method: 'POST', headers: wait, body: JSON.stringify(body) }), rec);
        if (rec.error) throw new Error(`${what}: ${rec.error}`);
      }
    },
    async exec(kind, instance, n, rec) {
      const res =
        kind === 'create'
          ? await fetch(`${v1}/databases/${ONTO_DB}/classes/${CLASS}/instances`, { method: 'POST', headers: wait, body: JSON.stringify({ id: instance, properties: props(n) }) })
          : await fetch(`${v1}/databases/${ONTO_DB}/classes/${CLASS}/instances/${instance}`, { method: 'PUT', headers: wait, body: JSON.stringify({ properties: props(n) }) });
      await untilDone(res, rec);
    },
  };
}

export function inlineClient(url: string): Pick<PathEnv, 'exec' | 'setup'> {
  const post = async (body: unknown) => {
    const res = await fetch(`${url}/cmd`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await json(res) };
  };
  return {
    async setup() {
      const r1 = await post({ command_type: 'CREATE_DATABASE', payload: { name: ONTO_DB } });
      if (r1.status !== 200) throw new Error(`create database: ${JSON.stringify(r1)}`);
      const r2 = await post({ command_type: 'CREATE_ONTOLOGY_CLASS', db_name: ONTO_DB, payload: itemClass });
      if (r2.status !== 200) throw new Error(`create class: ${JSON.stringify(r2)}`);
    },
    async exec(kind, instance, n, rec) {
      const r =
        kind === 'create'
          ? await post({ command_type: 'CREATE_INSTANCE', db_name: ONTO_DB, payload: { id: instance, class_id: CLASS, properties: props(n) } })
          : await post({ command_type: 'UPDATE_INSTANCE', db_name: ONTO_DB, payload: { id: instance, properties: props(n) } });
      rec.tDone = now();
      rec.commandId = r.body?.command_id;
      if (r.status !== 200) {
        rec.error = `${r.status} ${r.body?.code ?? ''} ${r.body?.message ?? ''}`.slice(0, 200);
        return;
      }
      rec.eventId = r.body.result.events[0]?.event_id;
      rec.version = r.body.result.version;
    },
  };
}

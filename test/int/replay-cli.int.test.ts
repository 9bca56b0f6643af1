/**
 * `npm run replay`: histories from a folder, by workflow id and by visibility query replay against
 * the current workflow code; a history the code no longer produces makes it exit 1 with its id.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main as replay } from '../../scripts/replay';
import { startPipeline, type Pipeline } from '../support/pipeline';
import { sendJson } from '../support/http';
import { eventually, uniqueName } from '../support/env';

jest.setTimeout(180_000);

const fixtures = path.join(__dirname, '..', 'fixtures', 'histories');

async function run(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await replay(args, (l) => lines.push(l));
  return { code, lines };
}

test('--dir replays every recorded history and exits 0', async () => {
  const { code, lines } = await run(['--dir', fixtures]);
  const files = fs.readdirSync(fixtures).filter((f) => f.endsWith('.json'));
  expect(lines.filter((l) => l.startsWith('ok ')).length).toBe(files.length);
  expect(lines.at(-1)).toBe(`${files.length} run(s) replayed, 0 did not replay`);
  expect(code).toBe(0);
});

test('a history the current code would not produce exits 1 and names its workflow', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replay-cli-'));
  // A run whose first activity was another one than the code schedules today.
  const history = JSON.parse(fs.readFileSync(path.join(fixtures, 'v1-create-instance.json'), 'utf8'));
  const scheduled = history.events.find((e: any) => e.activityTaskScheduledEventAttributes).activityTaskScheduledEventAttributes;
  scheduled.activityType.name = 'someOtherActivity';
  fs.writeFileSync(path.join(dir, 'changed-run.json'), JSON.stringify(history));
  fs.copyFileSync(path.join(fixtures, 'v2-create-class.json'), path.join(dir, 'good-run.json'));

  const { code, lines } = await run(['--dir', dir]);
  expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(/^NONDETERMINISTIC\s+changed-run /), expect.stringMatching(/^ok\s+good-run /)]));
  expect(lines.at(-1)).toBe('2 run(s) replayed, 1 did not replay: changed-run');
  expect(code).toBe(1);
});

describe('histories fetched from Temporal', () => {
  let p: Pipeline;
  let workflowId: string;
  beforeAll(async () => {
    p = await startPipeline('replay-cli');
    const res = await sendJson(p.url, 'POST', '/databases', { name: uniqueName('db').replace(/-/g, '_') }, { prefer: 'wait=30' });
    expect(res.status).toBe(201);
    workflowId = `command-${res.body.command_id}`;
  });
  afterAll(() => p?.close());

  test('--workflow-id', async () => {
    const { code, lines } = await run(['--workflow-id', workflowId]);
    expect(lines[0]).toMatch(new RegExp(`^ok\\s+${workflowId} `));
    expect(code).toBe(0);
  });

  test('--query (visibility is eventually consistent)', async () => {
    const { code, lines } = await eventually(
      () => run(['--query', `WorkflowId='${workflowId}'`]),
      (r) => r.lines.length > 1,
      30_000,
      1000,
    );
    expect(lines[0]).toMatch(new RegExp(`^ok\\s+${workflowId} `));
    expect(code).toBe(0);
  });
});

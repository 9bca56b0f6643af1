/**
 * The interactive API docs (/api/v1/docs) render in a real headless browser (Debian's chromium):
 * Swagger UI loads from the app itself (no CDN), fetches the OpenAPI document and shows every
 * operation. The browser is not optional: without it this test fails and says how to install it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createApp } from '../../src/api/app';
import { inMemoryPorts } from '../support/in-memory-ports';
import { testConfig } from '../support/env';
import { INSTALL_HINT, toolPaths } from '../../scripts/stack/tools';

jest.setTimeout(120_000);

const { chromium } = toolPaths(testConfig);
let server: Server;
let base: string;
const requested: string[] = [];

beforeAll(async () => {
  // Access on, as deployed: the page renders for a visitor without a key.
  const app = createApp(inMemoryPorts({ access: { mode: 'on' } }), pino({ level: 'silent' }));
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  server.on('request', (req) => requested.push(String(req.url)));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

/** The page's DOM after its scripts ran, as chromium sees it. */
function renderedDom(url: string): Promise<string> {
  if (!fs.existsSync(chromium)) throw new Error(`chromium not found at ${chromium}: install it with ${INSTALL_HINT}, or set CHROMIUM_PATH`);
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--virtual-time-budget=15000', '--dump-dom', url];
  return new Promise((resolve, reject) => execFile(chromium, args, { timeout: 90_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout) => (err ? reject(err) : resolve(stdout))));
}

test('the docs page renders every operation of the OpenAPI document, with assets from the app only', async () => {
  const openapi = (await (await fetch(`${base}/api/v1/openapi.json`)).json()) as any;
  const operations = Object.values(openapi.paths as Record<string, Record<string, { operationId: string }>>).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
  expect(operations.length).toBeGreaterThan(10);

  const dom = await renderedDom(`${base}/api/v1/docs`);
  // Swagger UI gives each rendered operation an element id "operations-<tag>-<operationId>".
  for (const id of operations) expect(dom).toMatch(new RegExp(`id="operations-[^"]+-${id}"`));
  expect(dom).toContain('spice-oms');
  // Everything the page loaded came from the app: its assets and the document.
  expect(requested).toEqual(expect.arrayContaining(['/api/v1/docs', '/api/v1/docs/assets/swagger-ui-bundle.js', '/api/v1/openapi.json']));
  expect(dom).not.toMatch(/<(script|link)[^>]+(src|href)="https?:\/\/(?!127\.0\.0\.1)/);
});

test('the page and its assets are served with their types; other files of the package are not', async () => {
  const page = await fetch(`${base}/api/v1/docs`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  const js = await fetch(`${base}/api/v1/docs/assets/swagger-ui-bundle.js`);
  expect(js.status).toBe(200);
  expect(js.headers.get('content-type')).toMatch(/javascript/);
  const other = await fetch(`${base}/api/v1/docs/assets/package.json`);
  expect(other.status).toBe(404);
  expect(other.headers.get('content-type')).toMatch(/problem\+json/);
});

/**
 * The API keeps an idle keep-alive connection open longer than the proxies and load balancers in
 * front of it keep theirs (60 s on the common ones): a server that closes first races the client
 * reusing the connection, which then sees ECONNRESET on a request the server never read.
 */
import http from 'node:http';
import { startPipeline, type Pipeline } from '../support/pipeline';

let p: Pipeline;
beforeAll(async () => {
  p = await startPipeline('e2e-conn', undefined, { worker: false });
});
afterAll(async () => {
  await p?.close();
});

function get(agent: http.Agent, path: string): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${p.url}${path}`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('error', reject);
  });
}

test('an idle keep-alive connection is still open for the next request after longer than node’s default 5 s', async () => {
  expect(p.api.server.keepAliveTimeout).toBeGreaterThan(60_000);
  expect(p.api.server.headersTimeout).toBeGreaterThan(p.api.server.keepAliveTimeout);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    expect(await get(agent, '/health/live')).toEqual({ status: 200, reused: false });
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await get(agent, '/health/live')).toEqual({ status: 200, reused: true });
  } finally {
    agent.destroy();
  }
});

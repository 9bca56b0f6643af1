/**
 * The worker's /metrics: prom-client's default registry of the process, where the pipeline's
 * counters live (spice_events_set_aside_total, spice_event_reads_total).
 * The API serves its own /metrics; a worker process has no HTTP server otherwise.
 */
import http from 'node:http';
import { register } from 'prom-client';

export async function serveProcessMetrics(host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    register.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': register.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

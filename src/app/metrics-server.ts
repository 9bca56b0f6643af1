/**
 * The worker's /metrics: prom-client's default registry of the process, where every spice-oms
 * metric lives (src/contracts/metrics.ts), followed by the Temporal SDK's own metrics when its
 * runtime exports them (TEMPORAL_SDK_METRICS_PORT). One scrape target per process.
 * The API serves its own /metrics; a worker process has no HTTP server otherwise.
 */
import http from 'node:http';
import { register } from 'prom-client';
import { listenOn } from './startup';

/** The SDK's exporter is local and quick; a scrape never waits on it for long. */
const SDK_SCRAPE_TIMEOUT_MS = 2000;

export async function processMetricsText(sdkMetricsUrl?: string): Promise<string> {
  const own = await register.metrics();
  if (sdkMetricsUrl === undefined) return own;
  try {
    const res = await fetch(sdkMetricsUrl, { signal: AbortSignal.timeout(SDK_SCRAPE_TIMEOUT_MS) });
    return res.ok ? `${own}\n${await res.text()}` : own;
  } catch {
    // Our own metrics still answer when the SDK's exporter does not.
    return own;
  }
}

/** `setting` names the port's variable in the error a port in use gives. */
export async function serveProcessMetrics(host: string, port: number, setting: string, sdkMetricsUrl?: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    processMetricsText(sdkMetricsUrl).then(
      (text) => res.writeHead(200, { 'Content-Type': register.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await listenOn(server, port, host, setting);
  return server;
}

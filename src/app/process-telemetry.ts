/**
 * What every spice-oms process sets up to be observable: the Temporal SDK runtime (its logger and,
 * when TEMPORAL_SDK_METRICS_PORT is set, its Prometheus exporter), tracing (OTLP when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set) and the gauges refreshed in the background.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type { Pool } from 'pg';
import type { Config } from './config';
import type { Logger } from './logger';
import { setupTracing } from './tracing';
import { publishLedgerBacklog, publishRetrying } from './worker-telemetry';

/** Once per process, before any native connection or worker. */
export function installRuntime(config: Config): void {
  const verbose = config.LOG_LEVEL === 'debug' || config.LOG_LEVEL === 'trace';
  Runtime.install({
    logger: new DefaultLogger(verbose ? 'DEBUG' : 'WARN'),
    ...(config.TEMPORAL_SDK_METRICS_PORT !== undefined
      ? {
          telemetryOptions: {
            metrics: {
              prometheus: { bindAddress: `127.0.0.1:${config.TEMPORAL_SDK_METRICS_PORT}`, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true },
            },
          },
        }
      : {}),
  });
}

/** Where the process's /metrics reads the SDK's metrics from, when it exports them. */
export function sdkMetricsUrl(config: Config): string | undefined {
  return config.TEMPORAL_SDK_METRICS_PORT === undefined ? undefined : `http://127.0.0.1:${config.TEMPORAL_SDK_METRICS_PORT}/metrics`;
}

export function startProcessTelemetry(config: Config, serviceName: string, infra: { pool: Pool; schema: string }, log: Logger): { stop(): Promise<void> } {
  const tracing = setupTracing(serviceName, { otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
  const stops = [publishRetrying(), publishLedgerBacklog(infra.pool, infra.schema, log)];
  return {
    async stop() {
      for (const stop of stops) stop();
      await tracing.shutdown();
    },
  };
}

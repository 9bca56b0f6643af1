/**
 * What every spice-oms process sets up to be observable: the Temporal SDK runtime (its logger and,
 * when TEMPORAL_SDK_METRICS_PORT is set, its Prometheus exporter), tracing (OTLP when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set) and the gauges refreshed in the background.
 */
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import type { Pool } from 'pg';
import type { Config } from './config';
import type { Logger } from './logger';
import { setupTracing } from './tracing';
import { publishLedgerBacklog, publishRetrying } from './worker-telemetry';

/**
 * The SDK's log lines as JSON lines of the process's logger (instead of multi-line console dumps).
 * Its "Activity failed" (every refusal, every failed attempt) is left out unless debugging: the
 * worker logs each activity outcome itself, with the command's ids and the failure's code.
 */
export function sdkLogSink(log: Logger, verbose: boolean): (entry: LogEntry) => void {
  return ({ level, message, meta }) => {
    if (message === 'Activity failed' && !verbose) return;
    const { error, ...rest } = (meta ?? {}) as { error?: unknown } & Record<string, unknown>;
    const line = { sdk: true, ...rest, ...(error !== undefined ? { err: error } : {}) };
    if (level === 'ERROR') log.error(line, message);
    else if (level === 'WARN') log.warn(line, message);
    else if (level === 'INFO') log.info(line, message);
    else log.debug(line, message);
  };
}

/** Once per process, before any native connection or worker. */
export function installRuntime(config: Config, log: Logger): void {
  const verbose = config.LOG_LEVEL === 'debug' || config.LOG_LEVEL === 'trace';
  Runtime.install({
    logger: new DefaultLogger(verbose ? 'DEBUG' : 'WARN', sdkLogSink(log, verbose)),
    // The process stops its workers itself on SIGINT/SIGTERM (worker.ts); the SDK's handler would swallow a signal that comes during the start.
    shutdownSignals: [],
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

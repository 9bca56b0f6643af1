/**
 * A process start that tells the truth: it either serves, or exits non-zero with one line that
 * names what failed and the setting to change. Express 5 hands a listen error to the listen
 * callback, so a server that trusted the callback reported "listening" on a port another program
 * held; services that do not answer would otherwise hold a start forever.
 */
import type { Server } from 'node:http';
import { ConfigError, type Config } from './config';

export class StartupError extends Error {
  readonly code = 'STARTUP_FAILED';
}

/** Binds `server`; a port in use or not ours to take rejects with a StartupError naming `setting`. */
export function listenOn(server: Server, port: number, host: string, setting: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the port is in use by another program' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message);
      reject(new StartupError(`cannot listen on ${host}:${port} (${why}); set ${setting} to a free port`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * Runs one start-up step against a required service, bounded by `boundMs`: a service that refuses
 * or does not answer in time stops the start with a StartupError naming the service and its settings.
 */
export async function reach<T>(service: string, settings: string, boundMs: number, step: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StartupError(`cannot reach ${service} within ${boundMs} ms; check ${settings} (STARTUP_TIMEOUT_S sets the bound)`)), boundMs);
  });
  try {
    return await Promise.race([step(), timeout]);
  } catch (err) {
    if (err instanceof StartupError) throw err;
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new StartupError(`${service} failed at start (${reason}); check ${settings}`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The end of a process that could not start: one line for a known cause (setting, port, service),
 * the stack for anything else, and a non-zero exit either way.
 */
export function exitStartFailed(name: string, err: unknown): never {
  const known = err instanceof StartupError || err instanceof ConfigError;
  process.stderr.write(`${name}: ${known ? err.message : err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
}

/** Each required service as a start-up failure names it: where it was looked for, and the settings that say so. */
export function requiredServices(config: Config) {
  const hostOf = (url: string) => {
    try {
      return new URL(url).host;
    } catch {
      return 'an unparsable URL';
    }
  };
  return {
    postgres: { service: `PostgreSQL at ${hostOf(config.databaseUrl)}`, settings: 'DATABASE_URL, DATABASE_OWNER_URL (or SPICE_HOST, PG_PORT)' },
    s3: { service: `S3 at ${hostOf(config.s3Endpoint)}`, settings: 'S3_ENDPOINT (or SPICE_HOST, MINIO_PORT)' },
    kafka: { service: `Kafka at ${config.kafkaBrokers.join(',')}`, settings: 'KAFKA_BROKERS (or SPICE_HOST, KAFKA_PORT)' },
    temporal: { service: `Temporal at ${config.temporalAddress}`, settings: 'TEMPORAL_ADDRESS (or SPICE_HOST, TEMPORAL_PORT)' },
    opensearch: { service: `OpenSearch at ${hostOf(config.opensearchUrl)}`, settings: 'OPENSEARCH_URL (or SEARCH_ENGINE=postgres)' },
  };
}

/** reach() for one of the required services, bounded by STARTUP_TIMEOUT_S. */
export function reachService<T>(config: Config, which: keyof ReturnType<typeof requiredServices>, step: () => Promise<T>): Promise<T> {
  const s = requiredServices(config)[which];
  return reach(s.service, s.settings, config.STARTUP_TIMEOUT_S * 1000, step);
}

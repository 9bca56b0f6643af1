/**
 * How every spice-oms process reaches Temporal: the local stack's dev server in plain gRPC, a
 * self-hosted cluster behind TLS or mTLS, or Temporal Cloud with an API key or a client
 * certificate. One builder, so the API, the worker and the operator CLI connect alike; the
 * result suits both `Connection.connect` (client) and `NativeConnection.connect` (worker).
 */
import fs from 'node:fs';
import type { Config } from './config';

export interface TemporalConnectionOptions {
  address: string;
  tls?: {
    serverNameOverride?: string;
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
  };
  apiKey?: string;
}

type TemporalSettings = Pick<
  Config,
  'temporalAddress' | 'TEMPORAL_API_KEY' | 'TEMPORAL_TLS' | 'TEMPORAL_TLS_CERT_PATH' | 'TEMPORAL_TLS_KEY_PATH' | 'TEMPORAL_TLS_CA_PATH' | 'TEMPORAL_TLS_SERVER_NAME'
>;

export class TemporalConnectionError extends Error {
  readonly code = 'TEMPORAL_CONNECTION_INVALID';
}

/**
 * TLS is on when asked for, or implied by an API key or a client certificate (Temporal Cloud takes
 * neither in plain text); TEMPORAL_TLS=false with either is refused rather than ignored.
 */
export function temporalConnectionOptions(c: TemporalSettings, readFile: (file: string) => Buffer = fs.readFileSync): TemporalConnectionOptions {
  const mtls = c.TEMPORAL_TLS_CERT_PATH !== undefined || c.TEMPORAL_TLS_KEY_PATH !== undefined;
  if (mtls && (c.TEMPORAL_TLS_CERT_PATH === undefined || c.TEMPORAL_TLS_KEY_PATH === undefined)) {
    throw new TemporalConnectionError('TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH go together (mTLS needs the certificate and its key)');
  }
  const implied = mtls || c.TEMPORAL_API_KEY !== undefined;
  if (c.TEMPORAL_TLS === false && implied) {
    throw new TemporalConnectionError('TEMPORAL_TLS=false, but an API key or a client certificate is only sent over TLS');
  }
  const tlsOn = c.TEMPORAL_TLS ?? (implied || c.TEMPORAL_TLS_CA_PATH !== undefined || c.TEMPORAL_TLS_SERVER_NAME !== undefined);
  const options: TemporalConnectionOptions = { address: c.temporalAddress };
  if (c.TEMPORAL_API_KEY !== undefined) options.apiKey = c.TEMPORAL_API_KEY;
  if (!tlsOn) return options;
  const file = (name: string, p: string) => {
    try {
      return readFile(p);
    } catch (e) {
      throw new TemporalConnectionError(`${name}: cannot read ${p} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  options.tls = {};
  if (c.TEMPORAL_TLS_SERVER_NAME !== undefined) options.tls.serverNameOverride = c.TEMPORAL_TLS_SERVER_NAME;
  if (c.TEMPORAL_TLS_CA_PATH !== undefined) options.tls.serverRootCACertificate = file('TEMPORAL_TLS_CA_PATH', c.TEMPORAL_TLS_CA_PATH);
  if (mtls) options.tls.clientCertPair = { crt: file('TEMPORAL_TLS_CERT_PATH', c.TEMPORAL_TLS_CERT_PATH!), key: file('TEMPORAL_TLS_KEY_PATH', c.TEMPORAL_TLS_KEY_PATH!) };
  return options;
}

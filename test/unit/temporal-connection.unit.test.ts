/**
 * Connection options for each way of running Temporal (README "Production checklist"): the local
 * dev server, a TLS cluster, Temporal Cloud with an API key or with mTLS. Built from the config
 * module's variables exactly as the processes build them.
 */
import { loadConfig } from '../../src/app/config';
import { temporalConnectionOptions, TemporalConnectionError } from '../../src/app/temporal-connection';

const files: Record<string, string> = { '/certs/client.pem': 'CERT', '/certs/client.key': 'KEY', '/certs/ca.pem': 'CA' };
const readFile = (p: string) => {
  if (!(p in files)) throw Object.assign(new Error(`ENOENT ${p}`), { code: 'ENOENT' });
  return Buffer.from(files[p]);
};
const options = (env: Record<string, string>) => temporalConnectionOptions(loadConfig(env), readFile);

test('the local stack: plain gRPC to SPICE_HOST:TEMPORAL_PORT', () => {
  expect(options({})).toEqual({ address: '127.0.0.1:7233' });
  expect(options({ TEMPORAL_ADDRESS: 'temporal:7233' })).toEqual({ address: 'temporal:7233' });
});

test('Temporal Cloud with an API key: TLS with the system roots, the key as a bearer token', () => {
  expect(options({ TEMPORAL_ADDRESS: 'eu-west-1.aws.api.temporal.io:7233', TEMPORAL_NAMESPACE: 'spice.a1b2c', TEMPORAL_API_KEY: 'secret-key' })).toEqual({
    address: 'eu-west-1.aws.api.temporal.io:7233',
    apiKey: 'secret-key',
    tls: {},
  });
});

test('Temporal Cloud (or a self-hosted cluster) with mTLS: the client certificate pair, optional CA and server name', () => {
  expect(
    options({
      TEMPORAL_ADDRESS: 'spice.a1b2c.tmprl.cloud:7233',
      TEMPORAL_TLS_CERT_PATH: '/certs/client.pem',
      TEMPORAL_TLS_KEY_PATH: '/certs/client.key',
    }),
  ).toEqual({ address: 'spice.a1b2c.tmprl.cloud:7233', tls: { clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') } } });
  expect(options({ TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS_CA_PATH: '/certs/ca.pem', TEMPORAL_TLS_SERVER_NAME: 'frontend.temporal' })).toEqual({
    address: 'temporal.internal:7233',
    tls: { serverRootCACertificate: Buffer.from('CA'), serverNameOverride: 'frontend.temporal' },
  });
  expect(options({ TEMPORAL_TLS: 'true' })).toEqual({ address: '127.0.0.1:7233', tls: {} });
});

test('refuses half an mTLS pair, credentials without TLS, and a file it cannot read, naming the variable', () => {
  expect(() => options({ TEMPORAL_TLS_CERT_PATH: '/certs/client.pem' })).toThrow(TemporalConnectionError);
  expect(() => options({ TEMPORAL_TLS_KEY_PATH: '/certs/client.key' })).toThrow(/TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH/);
  expect(() => options({ TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' })).toThrow(/only sent over TLS/);
  expect(() => options({ TEMPORAL_TLS_CA_PATH: '/certs/missing.pem' })).toThrow(/TEMPORAL_TLS_CA_PATH: cannot read \/certs\/missing.pem \(ENOENT\)/);
});

test('TEMPORAL_ADDRESS must be host:port', () => {
  expect(() => loadConfig({ TEMPORAL_ADDRESS: 'https://temporal:7233' })).toThrow(/TEMPORAL_ADDRESS/);
  expect(() => loadConfig({ TEMPORAL_ADDRESS: 'temporal' })).toThrow(/TEMPORAL_ADDRESS/);
});

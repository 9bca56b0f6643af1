/**
 * Client options for each way of running Kafka (README "Production checklist"): the local broker in
 * plain text, Confluent Cloud (SASL/PLAIN over TLS), Amazon MSK (SASL/SCRAM over TLS), a private CA.
 * Built from the config module's variables exactly as the processes build them.
 */
import { loadConfig } from '../../src/app/config';
import { KafkaSecurityError, kafkaSecurityOptions } from '../../src/adapters/kafka/kafka';

const readFile = (p: string) => {
  if (p !== '/certs/kafka-ca.pem') throw Object.assign(new Error(`ENOENT ${p}`), { code: 'ENOENT' });
  return 'CA';
};
const options = (env: Record<string, string>) => kafkaSecurityOptions(loadConfig(env), readFile);

test('the local broker: plain text, no credentials; topics with one replica', () => {
  expect(options({})).toEqual({});
  expect(loadConfig({}).KAFKA_REPLICATION_FACTOR).toBe(1);
});

test('Confluent Cloud: SASL/PLAIN with the API key and secret, over TLS with the system roots; three replicas', () => {
  const env = {
    KAFKA_BROKERS: 'pkc-123.eu-west-1.aws.confluent.cloud:9092',
    KAFKA_SASL_MECHANISM: 'plain',
    KAFKA_SASL_USERNAME: 'APIKEY',
    KAFKA_SASL_PASSWORD: 'secret',
    KAFKA_REPLICATION_FACTOR: '3',
  };
  expect(options(env)).toEqual({ ssl: true, sasl: { mechanism: 'plain', username: 'APIKEY', password: 'secret' } });
  expect(loadConfig(env).KAFKA_REPLICATION_FACTOR).toBe(3);
});

test('Amazon MSK: SASL/SCRAM-SHA-512 over TLS; a private CA replaces the system roots', () => {
  expect(options({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'spice', KAFKA_SASL_PASSWORD: 'pw', KAFKA_SSL_CA_PATH: '/certs/kafka-ca.pem' })).toEqual({
    ssl: { ca: ['CA'] },
    sasl: { mechanism: 'scram-sha-512', username: 'spice', password: 'pw' },
  });
  expect(options({ KAFKA_SSL: 'true' })).toEqual({ ssl: true });
});

test('settings that would send a password in plain text, or half a credential, are refused', () => {
  expect(() => options({ KAFKA_SSL: 'false', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' })).toThrow(KafkaSecurityError);
  expect(() => options({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u' })).toThrow(/KAFKA_SASL_PASSWORD/);
  expect(() => options({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' })).toThrow(/KAFKA_SASL_MECHANISM/);
  expect(() => loadConfig({ KAFKA_SASL_MECHANISM: 'gssapi' })).toThrow();
});

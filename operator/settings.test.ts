import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSettings } from './settings.ts';

describe('loadSettings', () => {
  it('applies defaults', () => {
    const s = loadSettings([], {}, 'host');
    assert.equal(s.namespace, 'hookline-system');
    assert.equal(s.leaseDuration, 15_000);
    assert.equal(s.leaderElection, true);
    assert.deepEqual(s.allowedCidrs, []);
    assert.equal(s.identity, `host-${process.pid}`);
  });

  it('takes flags over environment variables', () => {
    const s = loadSettings(
      ['--lease-duration', '3s'],
      { HOOKLINE_LEASE_DURATION: '20s', HOOKLINE_ALLOWED_CIDRS: '10.0.0.0/8, 127.0.0.0/8' },
      'h',
    );
    assert.equal(s.leaseDuration, 3000);
    assert.deepEqual(s.allowedCidrs, ['10.0.0.0/8', '127.0.0.0/8']);
  });

  it('names the flag and the variable of a bad value', () => {
    assert.throws(
      () =>
        loadSettings([], { HOOKLINE_RESYNC_PERIOD: 'often', HOOKLINE_DEFAULT_BROKER_URI: 'http://x' }, 'h'),
      (error: Error) =>
        error.message.includes('--resync-period (HOOKLINE_RESYNC_PERIOD)') &&
        error.message.includes('--default-broker-uri (HOOKLINE_DEFAULT_BROKER_URI): must be an amqp'),
    );
  });

  it('forwards its OTEL_* variables to the dispatchers, sorted, and nothing else', () => {
    const s = loadSettings(
      [],
      {
        OTEL_SERVICE_NAME: 'hookline-dispatcher',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EMPTY: '',
        HOOKLINE_LOG_LEVEL: 'debug',
        PATH: '/usr/bin',
      },
      'h',
    );
    assert.deepEqual(s.dispatcherEnv, [
      { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://collector:4318' },
      { name: 'OTEL_SERVICE_NAME', value: 'hookline-dispatcher' },
    ]);
    assert.deepEqual(loadSettings([], {}, 'h').dispatcherEnv, []);
  });

  it('hands HOOKLINE_KAFKA_CLIENT on to the dispatchers, and refuses a client it does not know', () => {
    const s = loadSettings([], { HOOKLINE_KAFKA_CLIENT: 'kafkajs', OTEL_SERVICE_NAME: 'd' }, 'h');
    assert.equal(s.kafkaClient, 'kafkajs');
    assert.deepEqual(s.dispatcherEnv, [
      { name: 'HOOKLINE_KAFKA_CLIENT', value: 'kafkajs' },
      { name: 'OTEL_SERVICE_NAME', value: 'd' },
    ]);
    assert.throws(
      () => loadSettings([], { HOOKLINE_KAFKA_CLIENT: 'rdkafka' }, 'h'),
      /--kafka-client \(HOOKLINE_KAFKA_CLIENT\): Invalid option/,
    );
  });

  it('refuses an unknown flag', () => {
    assert.throws(() => loadSettings(['--frobnicate', 'x'], {}, 'h'), /Unknown option/);
  });
});

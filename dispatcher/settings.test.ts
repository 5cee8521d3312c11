import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadDispatcherSettings } from './settings.ts';

const env = {
  HOOKLINE_NAMESPACE: 'anchor',
  HOOKLINE_SOURCE: 'events',
  HOOKLINE_BROKER_URI: 'amqp://rabbit:5672',
};

describe('dispatcher settings', () => {
  it('takes the Kafka client from HOOKLINE_KAFKA_CLIENT or --kafka-client', () => {
    assert.equal(
      loadDispatcherSettings([], { ...env, HOOKLINE_KAFKA_CLIENT: 'kafkajs' }).kafkaClient,
      'kafkajs',
    );
    assert.equal(
      loadDispatcherSettings(['--kafka-client', 'platformatic'], { ...env, HOOKLINE_KAFKA_CLIENT: 'kafkajs' })
        .kafkaClient,
      'platformatic',
    );
  });

  it('refuses an unknown Kafka client, naming the flag and its variable', () => {
    assert.throws(
      () => loadDispatcherSettings([], { ...env, HOOKLINE_KAFKA_CLIENT: 'librdkafka' }),
      /--kafka-client \(HOOKLINE_KAFKA_CLIENT\): Invalid option: expected one of "platformatic"\|"kafkajs"/,
    );
  });
});

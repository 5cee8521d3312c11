// Smoke tests of the real components the test environment starts: each one works the
// way Hookline will use it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { asError } from '../env/process.ts';
import { amqpConnect, freshNamespace, helm, kafka, kubeConfig, kubectl, rabbitApi } from '../env/handles.ts';

const group = 'smoke.hookline.dev';

const probeCrd: k8s.V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `probes.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural: 'probes', singular: 'probe', kind: 'Probe' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: { spec: { type: 'object', properties: { message: { type: 'string' } } } },
          },
        },
      },
    ],
  },
};

async function ensureEstablished(config: k8s.KubeConfig): Promise<void> {
  const api = config.makeApiClient(k8s.ApiextensionsV1Api);
  await api.createCustomResourceDefinition({ body: probeCrd }).catch((error: unknown) => {
    if (!(error instanceof k8s.ApiException && error.code === 409)) throw error;
  });
  for (let i = 0; i < 100; i++) {
    const crd = await api.readCustomResourceDefinition({ name: probeCrd.metadata!.name! });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail('the CRD did not become Established within 10 s');
}

interface WatchEvent {
  phase: string;
  object: { spec?: { message?: string } };
}

/** Starts a watch, then runs `trigger`, and resolves with the first event the watch streams. */
function firstWatchEvent(
  config: k8s.KubeConfig,
  path: string,
  trigger: () => Promise<unknown>,
): Promise<WatchEvent> {
  return new Promise((resolve, reject) => {
    const watch = new k8s.Watch(config);
    const started = watch.watch(
      path,
      {},
      (phase, object: WatchEvent['object']) => {
        resolve({ phase, object });
        void started.then((controller) => controller.abort());
      },
      (error: unknown) => {
        if (error) reject(asError(error));
      },
    );
    started.then(trigger).catch(reject);
  });
}

describe('Kubernetes control plane', () => {
  it('serves a CRD and streams a watch event for a custom object', async () => {
    const config = kubeConfig();
    await ensureEstablished(config);
    const namespace = await freshNamespace('smoke-kube');

    // A new CRD's watch cache may still be initialising: the API server answers 429
    // with "storage is (re)initializing" until it is, and clients are expected to retry.
    let event: WatchEvent | undefined;
    for (let attempt = 0; attempt < 50 && !event; attempt++) {
      try {
        event = await firstWatchEvent(config, `/apis/${group}/v1/namespaces/${namespace}/probes`, () =>
          config.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({
            group,
            version: 'v1',
            namespace,
            plural: 'probes',
            body: {
              apiVersion: `${group}/v1`,
              kind: 'Probe',
              metadata: { name: 'one' },
              spec: { message: 'hi' },
            },
          }),
        );
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode !== 429) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    assert.ok(event, 'the watch never started');
    assert.equal(event.phase, 'ADDED');
    assert.equal(event.object.spec?.message, 'hi');
  });

  it('answers kubectl with the server version the environment built', async () => {
    const { stdout } = await kubectl(['version', '-o', 'json']);
    const version = JSON.parse(stdout) as { serverVersion: { major: string; minor: string } };
    assert.equal(version.serverVersion.major, '1');
    assert.ok(Number.parseInt(version.serverVersion.minor, 10) >= 33, `minor ${version.serverVersion.minor}`);
  });
});

describe('RabbitMQ', () => {
  it('declares a queue, confirms a publish and delivers it to a consumer', async () => {
    const connection = await amqpConnect();
    try {
      const channel = await connection.createConfirmChannel();
      const queue = `smoke-${Date.now()}`;
      await channel.assertQueue(queue, { durable: true });
      const body = Buffer.from(JSON.stringify({ hello: 'rabbit' }));
      await new Promise<void>((resolve, reject) => {
        channel.sendToQueue(queue, body, { persistent: true, messageId: 'm1' }, (error) =>
          error ? reject(asError(error)) : resolve(),
        );
      });
      const overview = await rabbitApi<{ name: string; durable: boolean }>(`/queues/%2F/${queue}`);
      assert.equal(overview?.durable, true);

      const received = await new Promise<{ body: Buffer; id: string | undefined }>((resolve) => {
        void channel.consume(queue, (message) => {
          if (!message) return;
          channel.ack(message);
          resolve({ body: message.content, id: message.properties.messageId as string | undefined });
        });
      });
      assert.deepEqual(received.body, body);
      assert.equal(received.id, 'm1');
      await channel.deleteQueue(queue);
      assert.equal(await rabbitApi(`/queues/%2F/${queue}`), undefined);
    } finally {
      await connection.close();
    }
  });
});

describe('Kafka', () => {
  it('produces a record and consumes it in a consumer group', async () => {
    const client = kafka('smoke');
    const topic = `smoke-${Date.now()}`;
    const admin = client.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();

    const producer = client.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [{ key: 'evt-1', value: '{"type":"quote_created"}', headers: { type: 'quote_created' } }],
    });
    await producer.disconnect();

    const consumer = client.consumer({ groupId: `smoke-${topic}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const record = await new Promise<{ key: string; type: string; value: string }>((resolve) => {
      void consumer.run({
        eachMessage: ({ message }) => {
          resolve({
            key: message.key?.toString() ?? '',
            type: message.headers?.type?.toString() ?? '',
            value: message.value?.toString() ?? '',
          });
          return Promise.resolve();
        },
      });
    });
    await consumer.disconnect();
    assert.deepEqual(record, { key: 'evt-1', type: 'quote_created', value: '{"type":"quote_created"}' });
  });
});

describe('helm', () => {
  it('runs', async () => {
    const { stdout } = await helm(['version', '--short']);
    assert.match(stdout, /^v3\.\d+\.\d+/);
  });
});

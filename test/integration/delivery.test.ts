// Delivery end to end: events published on a RabbitMQ exchange reach local receivers
// through the operator-made topology and a dispatcher started from the operator's
// Deployment, signed with every scheme and verified by independent code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freshNamespace, testEnv } from '../env/handles.ts';
import { publishEvents } from '../fixtures/broker.ts';
import { apply, getObject, secretManifest, waitForReady, waitForSourceInPlace } from '../fixtures/cluster.ts';
import { installCrds } from '../fixtures/crds.ts';
import { startDispatcher } from '../fixtures/dispatcher.ts';
import { startOperator, type OperatorProcess } from '../fixtures/operator.ts';
import type { RunningProcess } from '../fixtures/process.ts';
import { startReceiver, type Receiver } from '../fixtures/receiver.ts';
import {
  verifyEd25519,
  verifyHmacSha256,
  verifyJwt,
  verifyRsaContentSignature,
  verifyStandardWebhooks,
  verifyStellar,
} from '../fixtures/verifiers.ts';
import { Keypair } from '@stellar/stellar-base';
import { eventually } from '../fixtures/wait.ts';

describe('signed delivery from a RabbitMQ source', () => {
  let namespace: string;
  let exchange: string;
  let operator: OperatorProcess;
  let dispatcher: RunningProcess;
  const receivers: Record<string, Receiver> = {};
  const schemes = [
    'standard-webhooks',
    'hmac',
    'rsa',
    'ed25519',
    'stellar',
    'none-jwt',
    'apikey-cloudevents',
  ] as const;
  const stellar = Keypair.random();
  const oldKey = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const newKey = 'whsec_dGhpcyBpcyB0aGUgbmV3IHNpZ25pbmcga2V5IDEyMw==';

  before(async () => {
    await installCrds();
    namespace = await freshNamespace('delivery');
    exchange = `midaz.${namespace}`;
    operator = startOperator({ namespace, env: { HOOKLINE_RESYNC_PERIOD: '5s' } });
    for (const scheme of schemes) receivers[scheme] = await startReceiver();
    await apply(namespace, secretManifest('broker', { uri: testEnv().rabbitmq.amqpUrl }));
    await apply(
      namespace,
      secretManifest('signing', {
        old: oldKey,
        new: newKey,
        hmac: 'plain-bytes-key',
        seed: stellar.secret(),
        jwt: 'jwt-secret',
        apiKey: 'k-123',
      }),
    );
    await apply(
      namespace,
      `apiVersion: hookline.dev/v1alpha1
kind: EventSource
metadata: {name: midaz}
spec:
  rabbitmq:
    connectionSecretRef: {name: broker}
    exchange: ${exchange}
    declare: true
`,
    );
    const hook = (name: string, url: string, extra: string) => `
apiVersion: hookline.dev/v1alpha1
kind: Webhook
metadata: {name: ${name}}
spec:
  sourceRef: {name: midaz}
  url: ${url}
  events: ["midaz.transaction.*"]
${extra}
---`;
    const port = (s: (typeof schemes)[number]) => receivers[s]!.port;
    await apply(
      namespace,
      [
        hook(
          'sw',
          `http://127.0.0.1:${port('standard-webhooks')}/hook`,
          '  signing: {scheme: standard-webhooks, secretRef: {name: signing, keys: [old, new]}}',
        ),
        hook(
          'hmac',
          `http://127.0.0.1:${port('hmac')}/hook`,
          '  signing: {scheme: hmac-sha256, secretRef: {name: signing, key: hmac}}',
        ),
        hook(
          'rsa',
          `http://127.0.0.1:${port('rsa')}/hook`,
          '  signing: {scheme: rsa-sha256, generate: true}',
        ),
        hook(
          'ed',
          `http://127.0.0.1:${port('ed25519')}/hook`,
          '  signing: {scheme: ed25519, generate: true}',
        ),
        hook(
          'stellar',
          `http://localhost:${port('stellar')}/callbacks`,
          '  signing: {scheme: stellar, secretRef: {name: signing, key: seed}}',
        ),
        hook(
          'jwt',
          `http://127.0.0.1:${port('none-jwt')}/event`,
          '  signing: {scheme: none}\n  auth: {jwt: {secretRef: {name: signing, key: jwt}}}',
        ),
        hook(
          'apikey',
          `http://127.0.0.1:${port('apikey-cloudevents')}/ce`,
          '  signing: {scheme: none}\n  auth: {apiKey: {secretRef: {name: signing, key: apiKey}, header: X-Partner-Key}}\n  payload: {format: cloudevents}\n  headers: {X-Tenant: acme}',
        ),
      ].join('\n'),
    );
    for (const name of ['sw', 'hmac', 'rsa', 'ed', 'stellar', 'jwt', 'apikey'])
      await waitForReady(namespace, 'webhooks', name, 'True');
    await waitForSourceInPlace(namespace, 'midaz');
    dispatcher = await startDispatcher(namespace, 'midaz');
    await eventually(
      'workers for all seven Webhooks',
      () => dispatcher.logs.filter((l) => l.msg === 'Delivering to Webhook').length >= 7,
    );
    await publishEvents(exchange, [
      {
        routingKey: 'midaz.transaction.APPROVED',
        messageId: 'evt-approved-1',
        body: JSON.stringify({
          source: 'midaz',
          eventType: 'transaction',
          action: 'APPROVED',
          organizationId: 'org',
          payload: { amount: 10 },
        }),
      },
    ]);
    for (const receiver of Object.values(receivers)) await receiver.waitForRequests(1, 20_000);
  });

  after(async () => {
    await dispatcher?.stop();
    await operator?.stop();
    for (const receiver of Object.values(receivers)) await receiver.close();
  });

  it('reproduces the Standard Webhooks signature, once per rotating key', () => {
    const request = receivers['standard-webhooks']!.requests[0]!;
    assert.equal(request.headers['webhook-id'], 'evt-approved-1');
    assert.equal(String(request.headers['webhook-signature']).split(' ').length, 2);
    assert.ok(verifyStandardWebhooks(request, oldKey), 'verifies with the old key');
    assert.ok(verifyStandardWebhooks(request, newKey), 'verifies with the new key');
    assert.equal(request.headers['hookline-event-type'], 'midaz.transaction.APPROVED');
    assert.equal(request.headers['hookline-attempt'], '1');
    assert.equal(
      request.body.toString(),
      JSON.stringify({
        source: 'midaz',
        eventType: 'transaction',
        action: 'APPROVED',
        organizationId: 'org',
        payload: { amount: 10 },
      }),
    );
  });

  it('signs hmac-sha256 over the body with the stored bytes', () => {
    const request = receivers.hmac!.requests[0]!;
    assert.ok(verifyHmacSha256(request, 'plain-bytes-key'));
    assert.equal(request.headers['hookline-event-id'], 'evt-approved-1');
  });

  it('signs rsa-sha256 with the generated key whose public half is in status', async () => {
    const hook = await getObject(namespace, 'webhooks', 'rsa');
    const publicKey = (hook?.status?.signing as { publicKey: string }).publicKey;
    assert.ok(verifyRsaContentSignature(receivers.rsa!.requests[0]!, publicKey));
  });

  it('signs ed25519 (v1a) with the generated key whose public half is in status', async () => {
    const hook = await getObject(namespace, 'webhooks', 'ed');
    const publicKey = (hook?.status?.signing as { publicKey: string }).publicKey;
    assert.match(publicKey, /^whpk_/);
    assert.ok(verifyEd25519(receivers.ed25519!.requests[0]!, publicKey));
  });

  it('signs like the Stellar Anchor Platform, the host including the port', () => {
    const request = receivers.stellar!.requests[0]!;
    assert.ok(verifyStellar(request, stellar.publicKey(), `localhost:${receivers.stellar!.port}`));
    assert.equal(verifyStellar(request, stellar.publicKey(), 'localhost'), false);
  });

  it('authenticates with a fresh HS256 JWT (iat, exp 30 s later)', () => {
    const claims = verifyJwt(receivers['none-jwt']!.requests[0]!, 'jwt-secret');
    assert.ok(claims, 'the JWT verifies');
    assert.equal(claims.exp - claims.iat, 30);
    assert.equal(
      receivers['none-jwt']!.requests[0]!.headers['webhook-signature'],
      undefined,
      'scheme none adds no signature',
    );
  });

  it('sends an API key header, static headers and structured CloudEvents', () => {
    const request = receivers['apikey-cloudevents']!.requests[0]!;
    assert.equal(request.headers['x-partner-key'], 'k-123');
    assert.equal(request.headers['x-tenant'], 'acme');
    assert.equal(request.headers['content-type'], 'application/cloudevents+json');
    const envelope = JSON.parse(request.body.toString()) as Record<string, unknown>;
    assert.equal(envelope.specversion, '1.0');
    assert.equal(envelope.id, 'evt-approved-1');
    assert.equal(envelope.type, 'midaz.transaction.APPROVED');
    assert.deepEqual((envelope.data as { payload: unknown }).payload, { amount: 10 });
  });

  it('writes the deliveries back to each Webhook', async () => {
    const hook = await eventually('the delivery counted in status', async () => {
      const h = await getObject(namespace, 'webhooks', 'sw');
      return (h?.status?.deliveries as { succeeded?: number } | undefined)?.succeeded === 1 ? h : undefined;
    });
    const status = hook.status as {
      attempts: number;
      lastAttempt: { statusCode: number; eventId: string };
      recentAttempts: unknown[];
      lastSuccessTime: string;
    };
    assert.equal(status.attempts, 1);
    assert.equal(status.lastAttempt.statusCode, 200);
    assert.equal(status.lastAttempt.eventId, 'evt-approved-1');
    assert.equal(status.recentAttempts.length, 1);
    assert.ok(status.lastSuccessTime);
  });
});

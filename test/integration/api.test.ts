// The API as cluster admins meet it, against the real kube-apiserver: the CRDs install,
// examples apply, invalid manifests are refused with a message naming the field, defaults
// appear, and `kubectl get` prints the columns an SRE reads.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { freshNamespace, kubectl } from '../env/handles.ts';
import { crdNames, installCrds } from '../fixtures/crds.ts';
import { WEBHOOK_COLUMNS } from '../e2e/table.ts';
import {
  aCallbackPolicy,
  anEventSource,
  aWebhook,
  invalidManifests,
  type Manifest,
} from '../fixtures/manifests.ts';

const repo = path.resolve(import.meta.dirname, '..', '..');

function apply(namespace: string, manifest: Manifest, ...flags: string[]) {
  return kubectl(['apply', '--server-side', '-n', namespace, ...flags, '-f', '-'], stringify(manifest));
}

async function getJson<T>(namespace: string, kind: string, name: string): Promise<T> {
  const { stdout } = await kubectl(['get', '-n', namespace, kind, name, '-o', 'json']);
  return JSON.parse(stdout) as T;
}

describe('the hookline.dev API on a real API server', () => {
  let namespace: string;
  before(async () => {
    await installCrds();
    namespace = await freshNamespace('api');
  });

  it('installs the three CRDs, Established, in the hookline category', async () => {
    for (const name of crdNames) {
      const crd = await getJson<{ status: { conditions: { type: string; status: string }[] } }>(
        '',
        'crd',
        name,
      );
      assert.ok(
        crd.status.conditions.some((c) => c.type === 'Established' && c.status === 'True'),
        name,
      );
    }
    await apply(namespace, aWebhook({}, 'listed'));
    const { stdout } = await kubectl(['get', 'hookline', '-n', namespace, '-o', 'name']);
    assert.match(stdout, /webhook\.hookline\.dev\/listed/);
  });

  for (const example of fs.readdirSync(path.join(repo, 'examples'))) {
    it(`accepts examples/${example} in a server-side dry run`, async () => {
      const dir = path.join(repo, 'examples', example);
      const { stdout } = await kubectl([
        'apply',
        '--server-side',
        '--dry-run=server',
        '-n',
        namespace,
        '-f',
        dir,
      ]);
      assert.match(stdout, /serverside-applied \(server dry run\)/);
      assert.doesNotMatch(stdout, /error/i);
    });
  }

  for (const { name, manifest, field } of invalidManifests) {
    it(`refuses ${name}, naming ${field}`, async () => {
      await assert.rejects(apply(namespace, manifest), (error: Error) => {
        assert.match(error.message, /is invalid|Invalid value|Required value|Unsupported value/);
        assert.ok(error.message.includes(field), `the refusal does not name ${field}:\n${error.message}`);
        return true;
      });
    });
  }

  it('fills the defaults of objects created without them', async () => {
    await apply(namespace, aWebhook({}, 'defaults'));
    await apply(namespace, anEventSource({}, 'defaults'));
    await apply(namespace, aCallbackPolicy({}, 'defaults'));
    const webhook = await getJson<{ spec: Record<string, unknown> }>(namespace, 'webhook', 'defaults');
    assert.equal(webhook.spec.phase, 'After');
    assert.equal(webhook.spec.suspend, false);
    assert.deepEqual(webhook.spec.payload, { format: 'raw' });
    assert.deepEqual(webhook.spec.signing, { scheme: 'standard-webhooks' });

    const source = await getJson<{ spec: Record<string, Record<string, unknown>> }>(
      namespace,
      'eventsource',
      'defaults',
    );
    assert.deepEqual(source.spec.dispatcher, { replicas: 1, maxEventBytes: 1048576 });
    assert.equal(source.spec.rabbitmq?.exchangeType, 'topic');
    assert.equal(source.spec.rabbitmq?.declare, false);

    const policy = await getJson<{ spec: Record<string, unknown> }>(namespace, 'callbackpolicy', 'defaults');
    assert.deepEqual(policy.spec, {
      retry: { backoff: { policy: 'exponential', delay: '5s', max: '1h', attempts: 8, jitter: 0.2 } },
      retryAfterMax: '1h',
      timeout: { connect: '10s', request: '10s' },
      successCodes: ['2xx'],
      retryOn: ['network', 'timeout', '408', '409', '425', '429', '5xx'],
      onExhausted: { deadLetter: true, disableWebhook: false, purgeQueue: false },
      ordering: 'Unordered',
      concurrency: 16,
    });
  });

  it('accepts both forms of eventType', async () => {
    const kafka = { brokers: ['kafka:9092'], topic: 'TRANSACTION' };
    const withTemplate = anEventSource(
      { kafka, eventType: { template: '{/eventType}.{/action}' } },
      'template',
    );
    const withHeader = anEventSource({ kafka, eventType: { header: 'type' } }, 'header');
    delete withTemplate.spec.rabbitmq;
    delete withHeader.spec.rabbitmq;
    await apply(namespace, withTemplate);
    await apply(namespace, withHeader);
    const stored = await getJson<{ spec: { eventType: unknown } }>(namespace, 'eventsource', 'header');
    assert.deepEqual(stored.spec.eventType, { header: 'type' });
  });

  it('prints the columns an SRE reads in kubectl get', async () => {
    const columns = namespaceHeaders(
      (await kubectl(['get', 'webhooks,eventsources,callbackpolicies', '-n', namespace])).stdout,
    );
    assert.deepEqual(columns, [
      WEBHOOK_COLUMNS,
      ['NAME', 'TYPE', 'READY', 'WEBHOOKS', 'REPLICAS', 'AGE'],
      ['NAME', 'ORDERING', 'RETRIES', 'WEBHOOKS', 'AGE'],
    ]);
  });
});

/** The header line of each table kubectl prints for several kinds at once. */
function namespaceHeaders(output: string): string[][] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('NAME '))
    .map((line) => line.trim().split(/\s+/));
}

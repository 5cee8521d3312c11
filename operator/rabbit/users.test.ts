import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  credentialsOf,
  generatePassword,
  managementUriFor,
  namespacePermissions,
  sameBroker,
  sourceUserName,
  userUri,
  vhostOf,
} from './users.ts';

describe('namespacePermissions', () => {
  const { configure, write, read } = namespacePermissions('shop');
  const cases: [string, boolean][] = [
    ['hookline.shop.orders', true],
    ['hookline.shop.orders.dlq', true],
    ['hookline.shop.~delay.27', true],
    ['hookline.shop.~direct', true],
    ['hookline-ingest.shop.anchor.dlq', true],
    // Another namespace, however its name starts.
    ['hookline.shops.orders', false],
    ['hookline.sho.orders', false],
    ['hookline-ingest.other.anchor.dlq', false],
    ['hooklineXshop.orders', false],
    // The default exchange reaches every queue of the vhost by name.
    ['', false],
    ['amq.default', false],
    ['amq.topic', false],
    ['transaction.transaction_events.exchange', false],
  ];
  for (const [name, allowed] of cases) {
    it(`${allowed ? 'reaches' : 'does not reach'} "${name}"`, () => {
      assert.equal(new RegExp(write).test(name), allowed);
      assert.equal(new RegExp(read).test(name), allowed);
    });
  }
  it('declares and deletes only its own Strict locks', () => {
    const cases: [string, boolean][] = [
      ['hookline-lock.shop.orders', true],
      ['hookline-lock.shops.orders', false],
      ['hookline-lock.other.orders', false],
      ['hookline.shop.orders', false],
      ['hookline.shop.orders.head', false],
      ['hookline.shop.~direct', false],
      ['hookline-ingest.shop.anchor.dlq', false],
      ['', false],
      ['anything', false],
    ];
    for (const [name, allowed] of cases) assert.equal(new RegExp(configure).test(name), allowed, name);
  });
});

describe('credentials in URIs', () => {
  it('puts the user and password in the broker URI, keeping host, port and vhost', () => {
    const uri = userUri(
      'amqps://admin:secret@rabbit.internal:5671/hookline',
      sourceUserName('shop', 'anchor'),
      'p/w+=',
    );
    assert.equal(new URL(uri).host, 'rabbit.internal:5671');
    assert.equal(vhostOf(uri), 'hookline');
    assert.deepEqual(credentialsOf(uri), { user: 'hookline~shop~anchor', password: 'p/w+=' });
    assert.ok(sameBroker(uri, 'amqps://admin:secret@rabbit.internal:5671/hookline'));
    assert.ok(!sameBroker(uri, 'amqps://admin:secret@rabbit.internal:5671/other'));
    assert.ok(!sameBroker(uri, 'amqp://admin:secret@rabbit.internal:5671/hookline'));
  });
  it('reads the default vhost and a URI without credentials', () => {
    assert.equal(vhostOf('amqp://u:p@h:5672'), '/');
    assert.equal(vhostOf('amqp://u:p@h:5672/%2F'), '/');
    assert.equal(credentialsOf('amqp://h:5672'), undefined);
    assert.equal(credentialsOf('not a uri'), undefined);
  });
  it('makes passwords that differ and need no escaping', () => {
    const [a, b] = [generatePassword(), generatePassword()];
    assert.notEqual(a, b);
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  });
  it('finds the management API on the same host and credentials', () => {
    assert.equal(managementUriFor('amqp://admin:s3cret@rabbit:5672/v'), 'http://admin:s3cret@rabbit:15672/');
    assert.equal(managementUriFor('amqps://admin:s3cret@rabbit:5671'), 'https://admin:s3cret@rabbit:15671/');
  });
  it('puts the credentials in every node of a cluster and finds the management API of each node', () => {
    const cluster = 'amqp://admin:s3cret@rabbit-0:5672/v,amqp://admin:s3cret@rabbit-1:5672/v';
    const uri = userUri(cluster, 'hookline~shop~anchor', 'pw');
    assert.equal(
      uri,
      'amqp://hookline~shop~anchor:pw@rabbit-0:5672/v,amqp://hookline~shop~anchor:pw@rabbit-1:5672/v',
    );
    assert.deepEqual(credentialsOf(uri), { user: 'hookline~shop~anchor', password: 'pw' });
    assert.equal(vhostOf(uri), 'v');
    assert.ok(sameBroker(uri, cluster));
    assert.ok(
      !sameBroker(uri, 'amqp://admin:s3cret@rabbit-0:5672/v'),
      'a node less is another broker setting',
    );
    assert.equal(
      managementUriFor(cluster),
      'http://admin:s3cret@rabbit-0:15672/,http://admin:s3cret@rabbit-1:15672/',
    );
  });
});

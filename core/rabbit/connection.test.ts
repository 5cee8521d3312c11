import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { brokerNodes, brokerUriProblem, connectBroker, redactUri, redactedMessage } from './connection.ts';

describe('broker URIs naming a cluster', () => {
  it('reads one URI, or the nodes of a cluster separated by commas or whitespace', () => {
    assert.deepEqual(brokerNodes('amqp://u:p@rabbit:5672/v'), ['amqp://u:p@rabbit:5672/v']);
    assert.deepEqual(brokerNodes(' amqp://u:p@r0/v, amqps://u:p@r1:5671/v\n amqp://u:p@r2/v '), [
      'amqp://u:p@r0/v',
      'amqps://u:p@r1:5671/v',
      'amqp://u:p@r2/v',
    ]);
  });
  it('keeps a comma that belongs to a password', () => {
    assert.deepEqual(brokerNodes('amqp://u:a,b@r0/v,amqp://u:a,b@r1/v'), [
      'amqp://u:a,b@r0/v',
      'amqp://u:a,b@r1/v',
    ]);
  });
  it('names what is wrong with a list', () => {
    assert.equal(brokerUriProblem('amqp://u:p@r0/v,amqp://u:p@r1/v'), undefined);
    assert.equal(brokerUriProblem('amqp://u:p@r0'), undefined);
    assert.match(brokerUriProblem('http://r0/')!, /must be an amqp:\/\/ or amqps:\/\/ URI/);
    assert.match(brokerUriProblem('amqp://u:p@r0/v,http://r1/v')!, /must be an amqp/);
    assert.match(brokerUriProblem('amqp://u:p@r0/a,amqp://u:p@r1/b')!, /same vhost/);
    assert.match(brokerUriProblem('rabbit:5672')!, /must be an amqp/);
  });
  it('redacts the password of every node, in the URI and in messages', () => {
    const uri = 'amqp://u:s3cret@r0/v,amqp://u:s3cret@r1/v';
    assert.equal(redactUri(uri), 'amqp://u:***@r0/v,amqp://u:***@r1/v');
    const message = redactedMessage(uri, new Error('cannot open amqp://u:s3cret@r1/v'));
    assert.ok(!message.includes('s3cret'), message);
    assert.equal(redactUri('not a uri'), '(invalid URI)');
  });
});

/** A port that refuses connections: one that was listened on and closed. */
async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('connectBroker with no node answering', () => {
  it('tries every node and names each failure without its password', async () => {
    const [a, b] = [await refusedPort(), await refusedPort()];
    const uri = `amqp://u:s3cret@127.0.0.1:${a}/v,amqp://u:s3cret@127.0.0.1:${b}/v`;
    await assert.rejects(connectBroker(uri, { name: 'test', timeoutMs: 1000 }), (error: Error) => {
      assert.match(error.message, /no node of the cluster answered/);
      assert.ok(error.message.includes(`127.0.0.1:${a}`) && error.message.includes(`127.0.0.1:${b}`));
      assert.ok(!error.message.includes('s3cret'), error.message);
      return true;
    });
  });
});

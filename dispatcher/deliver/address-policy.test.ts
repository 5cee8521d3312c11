import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressPolicy } from './address-policy.ts';

describe('addressPolicy', () => {
  const strict = addressPolicy([]);
  const refused = [
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    'fe80::1',
    'fd00:ec2::254',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
  ];
  const permitted = [
    '93.184.215.14',
    '8.8.8.8',
    '2606:2800:21f:cb07:6820:80da:af6b:8b2c',
    '::ffff:93.184.215.14',
  ];
  for (const address of refused)
    it(`refuses ${address}`, () => assert.match(strict.refusal(address) ?? '', /not allow/));
  for (const address of permitted)
    it(`permits ${address}`, () => assert.equal(strict.refusal(address), undefined));

  it('permits what the install allows', () => {
    const local = addressPolicy(['127.0.0.0/8', '10.20.0.0/16']);
    assert.equal(local.refusal('127.0.0.1'), undefined);
    assert.equal(local.refusal('10.20.1.1'), undefined);
    assert.match(local.refusal('10.21.1.1') ?? '', /not allow/);
  });

  it('refuses a malformed range at start', () =>
    assert.throws(() => addressPolicy(['10.0.0.0']), /not a CIDR/));
});

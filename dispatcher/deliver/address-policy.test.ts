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
    '::ffff:7f00:1', // mapped, as the URL parser writes it
    '::127.0.0.1', // IPv4-compatible
    '::7f00:1',
    '::a9fe:a9fe', // 169.254.169.254
    '2002:7f00:1::', // 6to4 of 127.0.0.1
    '2002:a9fe:a9fe::1', // 6to4 of 169.254.169.254
    '2002:0a00:0001:1234::5',
    '2001:0:7f00:1::', // Teredo, server 127.0.0.1
    '2001:0:5db8:d70e:0:0:f5ff:fffe', // Teredo, client 10.0.0.1 (stored inverted)
    'fec0::1', // site-local
    'fefe::1',
    '100::1', // discard-only
    '100::ffff:ffff:ffff:ffff',
  ];
  const permitted = [
    '93.184.215.14',
    '8.8.8.8',
    '2606:2800:21f:cb07:6820:80da:af6b:8b2c',
    '::ffff:93.184.215.14',
    '2002:5db8:d70e::1', // 6to4 of 93.184.215.14
    '2001:0:5db8:d70e:0:0:a247:f1f7', // Teredo, server 93.184.215.14, client 93.184.14.8
    '100:0:0:1::1', // next to the discard-only range
    'ff:fe::1',
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
    // An allowed IPv4 address is allowed in the IPv6 forms that embed it, too.
    assert.equal(local.refusal('2002:7f00:1::'), undefined);
    assert.equal(local.refusal('::7f00:1'), undefined);
    assert.match(local.refusal('2002:a00:1::') ?? '', /not allow/);
  });

  it('names the embedded address it refused', () =>
    assert.match(strict.refusal('2002:a9fe:a9fe::1') ?? '', /169\.254\.169\.254/));

  it('says when a text is no IP address', () => {
    for (const text of ['example.com', '1::2::3', '2002:zz::1', ''])
      assert.match(strict.refusal(text) ?? '', /not an IP/);
  });

  it('refuses a malformed range at start', () =>
    assert.throws(() => addressPolicy(['10.0.0.0']), /not a CIDR/));
});

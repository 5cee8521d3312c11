// Which addresses a Webhook may be delivered to (../../shared/SPEC.md §4): loopback,
// private, link-local, cloud-metadata and other special ranges are refused unless the
// install allows them. Checked on resolved addresses, IPv4-mapped IPv6 included.
import net from 'node:net';

const DENIED_V4 = [
  '0.0.0.0/8', // "this network"
  '10.0.0.0/8',
  '100.64.0.0/10', // carrier-grade NAT
  '127.0.0.0/8',
  '169.254.0.0/16', // link-local, cloud metadata (169.254.169.254)
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, broadcast
];
const DENIED_V6 = [
  '::/128',
  '::1/128',
  '64:ff9b::/96', // NAT64 of any IPv4 address
  'fc00::/7', // unique local, including fd00:ec2::254 (metadata)
  'fe80::/10',
  'ff00::/8',
];

function blockList(cidrs: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split('/');
    const family = net.isIPv6(address!) ? 'ipv6' : 'ipv4';
    if (!net.isIP(address!) || prefix === undefined) throw new Error(`"${cidr}" is not a CIDR range`);
    list.addSubnet(address!, Number(prefix), family);
  }
  return list;
}

export interface AddressPolicy {
  /** Undefined when the address may be used, else why not. */
  refusal(address: string): string | undefined;
}

export function addressPolicy(allowedCidrs: readonly string[]): AddressPolicy {
  const denied = blockList([...DENIED_V4, ...DENIED_V6]);
  const allowed = blockList(allowedCidrs);
  return {
    refusal(address: string) {
      const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
      const candidate = v4mapped ?? address;
      const family = net.isIPv6(candidate) ? 'ipv6' : 'ipv4';
      if (!net.isIP(candidate)) return `${address} is not an IP address`;
      if (allowed.check(candidate, family)) return undefined;
      if (denied.check(candidate, family)) {
        return `${address} is in a loopback, private, link-local or metadata range that this installation does not allow`;
      }
      return undefined;
    },
  };
}

// Which addresses a Webhook may be delivered to (../../shared/SPEC.md §4): loopback,
// private, link-local, cloud-metadata and other special ranges are refused unless the
// install allows them. Checked on resolved addresses; an IPv6 address that embeds an IPv4
// address (IPv4-mapped, IPv4-compatible, 6to4, Teredo) is refused when that IPv4 address is.
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
  'fec0::/10', // site-local (deprecated)
  'ff00::/8',
  '100::/64', // discard-only
];

/** The 16 bytes of an IPv6 address (a trailing dotted IPv4 part included). */
function ipv6Bytes(address: string): number[] {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (dotted) {
    const [a, b, c, d] = dotted.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -dotted.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groups = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const front = groups(head);
  const back = groups(tail);
  const all =
    tail === undefined
      ? front
      : [...front, ...Array<number>(8 - front.length - back.length).fill(0), ...back];
  return all.flatMap((group) => [group >> 8, group & 0xff]);
}

const v4 = (bytes: number[], at: number, invert = 0) =>
  bytes
    .slice(at, at + 4)
    .map((byte) => byte ^ invert)
    .join('.');

/**
 * The IPv4 addresses an IPv6 address carries: IPv4-mapped (::ffff:0:0/96) and
 * IPv4-compatible (::/96) in their last 32 bits, 6to4 (2002::/16) in bits 16-47, Teredo
 * (2001::/32) its server in bits 32-63 and its client, inverted, in the last 32 bits.
 */
export function embeddedIPv4(address: string): string[] {
  const b = ipv6Bytes(address);
  const zeros = (from: number, to: number) => b.slice(from, to).every((byte) => byte === 0);
  if (zeros(0, 10) && ((b[10] === 0xff && b[11] === 0xff) || zeros(10, 12))) return [v4(b, 12)];
  if (b[0] === 0x20 && b[1] === 0x02) return [v4(b, 2)];
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0) return [v4(b, 4), v4(b, 12, 0xff)];
  return [];
}

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

const REFUSED = 'in a loopback, private, link-local or metadata range that this installation does not allow';

export interface AddressPolicy {
  /** Undefined when the address may be used, else why not. */
  refusal(address: string): string | undefined;
}

export function addressPolicy(allowedCidrs: readonly string[]): AddressPolicy {
  const denied = blockList([...DENIED_V4, ...DENIED_V6]);
  const allowed = blockList(allowedCidrs);
  return {
    refusal(address: string) {
      const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
      if (!net.isIP(address)) return `${address} is not an IP address`;
      if (allowed.check(address, family)) return undefined;
      if (denied.check(address, family)) return `${address} is ${REFUSED}`;
      if (family === 'ipv4') return undefined;
      for (const inner of embeddedIPv4(address)) {
        if (!allowed.check(inner, 'ipv4') && denied.check(inner, 'ipv4'))
          return `${address} embeds ${inner}, which is ${REFUSED}`;
      }
      return undefined;
    },
  };
}

// CIDR parsing and matching on top of ipaddr.js. IPv4-mapped IPv6 sources (::ffff:a.b.c.d, what a
// dual-stack listener reports for IPv4 clients) are matched as IPv4 so one rule covers both.
import ipaddr from 'ipaddr.js';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

export interface Cidr {
  readonly address: IpAddress;
  readonly bits: number;
  readonly text: string;
}

/** Parse an address, folding IPv4-mapped IPv6 into IPv4. Returns undefined when not an IP. */
export function parseIp(text: string): IpAddress | undefined {
  const s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (!ipaddr.isValid(s)) return undefined;
  // ipaddr.isValid accepts legacy forms such as "10.1" or "0x0a.0.0.1"; config and policy only take
  // the four-part decimal form, so anything else is refused here.
  if (s.includes('.') && !s.includes(':') && !ipaddr.IPv4.isValidFourPartDecimal(s)) return undefined;
  const addr = ipaddr.parse(s);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (addr as ipaddr.IPv6).toIPv4Address();
  }
  return addr;
}

/** Parse "a.b.c.d/n", "x::/n", or a bare address (host route). Returns an error message on failure. */
export function parseCidr(text: string): Cidr | string {
  const s = text.trim();
  const slash = s.indexOf('/');
  const addrText = slash < 0 ? s : s.slice(0, slash);
  const addr = parseIp(addrText);
  if (!addr) return `"${s}" is not an IP address or CIDR`;
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const b = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b) || Number(b) > max) return `"${s}" has a bad prefix length (0-${max})`;
    bits = Number(b);
  }
  const network = networkOf(addr, bits);
  if (network.toString() !== addr.toString()) {
    return `"${s}" has host bits set; write "${network.toString()}/${bits}"`;
  }
  return Object.freeze({ address: addr, bits, text: `${addr.toString()}/${bits}` });
}

function networkOf(addr: IpAddress, bits: number): IpAddress {
  if (addr.kind() === 'ipv4') return ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`);
  return ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${bits}`);
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.address.kind() !== ip.kind()) return false;
  return (ip as ipaddr.IPv4).match(cidr.address as ipaddr.IPv4, cidr.bits);
}

/** True when a and b share any address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.address.kind() !== b.address.kind()) return false;
  const bits = Math.min(a.bits, b.bits);
  return (a.address as ipaddr.IPv4).match(b.address as ipaddr.IPv4, bits);
}

// The destination guard: after DNS, refuse addresses that lead back inside (loopback, private
// networks, link-local and so cloud metadata at 169.254.169.254, CGNAT, IPv6 ULA, IPv4-mapped IPv6,
// and the odd ranges that alias them). On by default; the named escape hatch is a CIDR list,
// `unsafeAllowPrivateDestinations`. Pure: address in, value out.
import ipaddr from 'ipaddr.js';
import { cidrContains, type Cidr } from '../net/cidr.js';

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

/** A range as ipaddr parses it: unlike net/cidr, IPv4-mapped IPv6 stays IPv6 here. */
interface Range {
  readonly addr: Addr;
  readonly bits: number;
}

function range(text: string): Range {
  const [addr, bits] = ipaddr.parseCIDR(text);
  return { addr, bits };
}

function inRange(r: Range, ip: Addr): boolean {
  return r.addr.kind() === ip.kind() && (ip as ipaddr.IPv4).match(r.addr as ipaddr.IPv4, r.bits);
}

export type DestinationClass =
  | 'public'
  | 'this_network'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'unique_local'
  | 'site_local'
  | 'ipv4_mapped'
  | 'ipv4_compatible'
  | 'nat64'
  | 'six_to_four'
  | 'teredo'
  | 'multicast'
  | 'reserved';

function table(rows: [string, DestinationClass][]): { range: Range; cls: DestinationClass }[] {
  return rows.map(([text, cls]) => ({ range: range(text), cls }));
}

const V4 = table([
  ['0.0.0.0/8', 'this_network'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link_local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
]);

const V6 = table([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::ffff:0:0/96', 'ipv4_mapped'],
  ['::/96', 'ipv4_compatible'],
  ['64:ff9b:1::/48', 'nat64'],
  ['100::/64', 'reserved'],
  ['2001::/32', 'teredo'],
  ['fc00::/7', 'unique_local'],
  ['fe80::/10', 'link_local'],
  ['fec0::/10', 'site_local'],
  ['ff00::/8', 'multicast'],
]);

const NAT64 = range('64:ff9b::/96');
const SIX_TO_FOUR = range('2002::/16');

function lookup(rows: { range: Range; cls: DestinationClass }[], ip: Addr): DestinationClass {
  for (const r of rows) if (inRange(r.range, ip)) return r.cls;
  return 'public';
}

/** What kind of address this is. IPv6 forms that embed an IPv4 address are judged by it too. */
export function classifyDestination(ip: ipaddr.IPv4 | ipaddr.IPv6): DestinationClass {
  if (ip.kind() === 'ipv4') return lookup(V4, ip);
  const v6 = ip as ipaddr.IPv6;
  const cls = lookup(V6, v6);
  if (cls !== 'public') return cls;
  const bytes = v6.toByteArray();
  if (inRange(NAT64, v6)) {
    const embedded = new ipaddr.IPv4(bytes.slice(12, 16));
    return lookup(V4, embedded) === 'public' ? 'public' : 'nat64';
  }
  if (inRange(SIX_TO_FOUR, v6)) {
    const embedded = new ipaddr.IPv4(bytes.slice(2, 6));
    return lookup(V4, embedded) === 'public' ? 'public' : 'six_to_four';
  }
  return 'public';
}

export interface GuardConfig {
  readonly enabled: boolean;
  /** unsafeAllowPrivateDestinations, each with the FILE:LINE that wrote it. */
  readonly allow: readonly { readonly cidr: Cidr; readonly where: string }[];
}

export interface GuardVerdict {
  readonly allowed: boolean;
  readonly cls: DestinationClass;
  /** Set when an unsafeAllowPrivateDestinations entry let a non-public address through. */
  readonly allowedBy?: { readonly cidr: Cidr; readonly where: string };
}

/**
 * May the proxy connect to `raw`? `raw` is the address exactly as it will be dialled (an
 * IPv4-mapped IPv6 address stays mapped so it is refused as such).
 */
export function guardDestination(raw: ipaddr.IPv4 | ipaddr.IPv6, guard: GuardConfig): GuardVerdict {
  const cls = classifyDestination(raw);
  if (cls === 'public') return { allowed: true, cls };
  if (!guard.enabled) return { allowed: true, cls };
  const v6 = raw.kind() === 'ipv6' ? (raw as ipaddr.IPv6) : undefined;
  const folded = v6?.isIPv4MappedAddress() ? v6.toIPv4Address() : undefined;
  for (const a of guard.allow) {
    if (cidrContains(a.cidr, raw) || (folded && cidrContains(a.cidr, folded)))
      return { allowed: true, cls, allowedBy: a };
  }
  return { allowed: false, cls };
}

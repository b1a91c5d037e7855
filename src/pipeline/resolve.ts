// Resolve: a target name becomes one address, once. The address is then guarded (security-group
// egress, the egress destination guard) and dialed as it is, never looked up again, so what was
// checked is what is connected to (no DNS rebinding between check and connect).
import dns from 'node:dns/promises';
import net from 'node:net';
import { GatehouseError } from '../errors.js';
import { formatHostPort, type HostPort } from '../net/address.js';
import { parseIp, type IpAddress } from '../net/cidr.js';
import type { Decision } from '../policy/decision.js';

export interface Resolved {
  /** The address as policy sees it (IPv4-mapped IPv6 as IPv4). */
  readonly ip: IpAddress;
  /** The address to dial: the literal, or the resolver's answer exactly as it came. */
  readonly address: string;
}

/** A guard on the resolved address; a denial fails the dial with GH_ERR_DENIED. */
export type AddressGuard = (ip: IpAddress, port: number) => Decision;

export class DialDenied extends GatehouseError {
  constructor(
    readonly target: string,
    readonly decision: Decision,
  ) {
    super('GH_ERR_DENIED', [`egress to ${target} (${decision.reason})`]);
  }
}

function unresolved(host: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_ERR_DIAL_FAILED', [host], {
    ...(cause === undefined ? {} : { cause }),
    hint: `the name "${host}" does not resolve`,
  });
}

/** One lookup (none for a literal). Fails with GH_ERR_DIAL_FAILED when the name does not resolve. */
export async function resolveHost(host: string): Promise<Resolved> {
  if (net.isIP(host)) {
    const ip = parseIp(host);
    if (ip) return { ip, address: ip.toString() };
  }
  let address: string;
  try {
    ({ address } = await dns.lookup(host, { verbatim: true }));
  } catch (err) {
    throw unresolved(host, err);
  }
  const ip = parseIp(address);
  if (!ip) throw unresolved(host);
  return { ip, address };
}

/** Resolve once and hold the address against `guard`: the result is the one address to dial. */
export async function resolveAndGuard(
  target: HostPort,
  guard: AddressGuard | undefined,
): Promise<Resolved & { readonly decision?: Decision }> {
  const resolved = await resolveHost(target.host);
  if (!guard) return resolved;
  const decision = guard(resolved.ip, target.port);
  if (!decision.allowed) throw new DialDenied(formatHostPort(target.host, target.port), decision);
  return { ...resolved, decision };
}

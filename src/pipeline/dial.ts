// Dial a target: resolve once, check the resolved address against egress policy, then connect to
// exactly that address (no second lookup between check and connect).
import dns from 'node:dns/promises';
import net from 'node:net';
import { GatehouseError } from '../errors.js';
import { formatHostPort, type HostPort } from '../net/address.js';
import { parseIp, type IpAddress } from '../net/cidr.js';
import type { Decision } from '../policy/decision.js';

export interface DialOptions {
  readonly connectTimeout: number;
  /** Egress check on the resolved address; a denial fails the dial with GH_ERR_DENIED. */
  readonly checkEgress?: (ip: IpAddress, port: number) => Decision;
  /** Read into a reused buffer instead of 'data' events (see read-pump.ts). */
  readonly onread?: net.OnReadOpts;
}

export interface Dialed {
  readonly socket: net.Socket;
  readonly address: string;
  readonly egress?: Decision;
}

export class DialDenied extends GatehouseError {
  constructor(
    readonly target: string,
    readonly decision: Decision,
  ) {
    super('GH_ERR_DENIED', [`egress to ${target} (${decision.reason})`]);
  }
}

async function resolve(host: string): Promise<IpAddress> {
  const literal = parseIp(host);
  if (literal) return literal;
  try {
    const { address } = await dns.lookup(host, { verbatim: true });
    const ip = parseIp(address);
    if (ip) return ip;
  } catch (err) {
    throw new GatehouseError('GH_ERR_DIAL_FAILED', [host], {
      cause: err,
      hint: `the name "${host}" does not resolve`,
    });
  }
  throw new GatehouseError('GH_ERR_DIAL_FAILED', [host]);
}

/**
 * One lookup, for faces that guard the address themselves before they dial it: the address text
 * exactly as the resolver returned it (an IPv4-mapped IPv6 answer stays mapped), or the literal
 * itself. Dial the returned address afterwards; never the name again.
 */
export async function lookupOnce(host: string): Promise<string> {
  if (net.isIP(host)) return host;
  try {
    const { address } = await dns.lookup(host, { verbatim: true });
    return address;
  } catch (err) {
    throw new GatehouseError('GH_ERR_DIAL_FAILED', [host], {
      cause: err,
      hint: `the name "${host}" does not resolve`,
    });
  }
}

export async function dial(target: HostPort, opts: DialOptions): Promise<Dialed> {
  const label = formatHostPort(target.host, target.port);
  const ip = await resolve(target.host);
  const egress = opts.checkEgress?.(ip, target.port);
  if (egress && !egress.allowed) throw new DialDenied(label, egress);
  const address = ip.toString();
  return new Promise<Dialed>((resolveDial, reject) => {
    const socket = net.connect({
      host: address,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
      ...(opts.onread ? { onread: opts.onread } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new GatehouseError('GH_ERR_DIAL_TIMEOUT', [label]));
    }, opts.connectTimeout);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolveDial({ socket, address, ...(egress ? { egress } : {}) });
    });
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const code = err.code === 'ECONNREFUSED' ? 'GH_ERR_DIAL_REFUSED' : 'GH_ERR_DIAL_FAILED';
      reject(new GatehouseError(code, [label], { cause: err }));
    };
    socket.once('error', onError);
  });
}

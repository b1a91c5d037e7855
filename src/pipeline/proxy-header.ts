// The PROXY v2 step, before admission, on listeners with `proxyProtocol: v2`: a load balancer says
// whom it relays in a header before the client's first byte (protocols/proxy-v2.ts reads it). The
// header is honoured only from `trustedProxies`; from anyone else the connection is closed unread.
// From a trusted peer, a missing, malformed or slow header closes the connection. LOCAL (the
// balancer's own health check) keeps the socket's addresses, read before anything else: a check
// that closes right after its header leaves a socket whose remoteAddress Node reports as
// undefined, and that must not take anything down.
//
// The client's address is kept beside the socket (clientOf), not written over it: security
// groups, authorization, the audit line (which names the balancer too, as `via`) and the
// connection log read it through clientOf.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { formatHostPort } from '../net/address.js';
import { cidrContains, parseIp, type Cidr } from '../net/cidr.js';
import { mayBeProxyV2, parseProxyV2, PROXY_V2_DEFAULT_MAX } from '../protocols/proxy-v2.js';

/** A complete header must arrive within this long of the connection. */
export const PROXY_HEADER_TIMEOUT_MS = 3000;

export interface ProxyTrust {
  /** The load balancers a header is honoured from. */
  readonly trusted: readonly Cidr[];
}

/** Where a connection really comes from. */
export interface ClientAddress {
  readonly address: string | undefined;
  readonly port: number | undefined;
  /** The load balancer that relayed it ("10.0.0.2:41234"), when a PROXY header said so. */
  readonly via?: string;
}

export type ProxyRefusal =
  'proxy_untrusted' | 'proxy_header_missing' | 'proxy_header_invalid' | 'proxy_header_timeout';

const origins = new WeakMap<object, ClientAddress>();

/**
 * The client behind a socket: what its PROXY header said, else the socket's own peer. A TLS socket
 * made over an accepted socket answers for it (Node keeps the wrapped socket as `_parent`).
 */
export function clientOf(socket: Socket | Duplex): ClientAddress {
  let o = origins.get(socket);
  if (!o) {
    const parent = (socket as { _parent?: object })._parent;
    if (parent) o = origins.get(parent);
  }
  if (o) return o;
  const s = socket as Socket;
  return { address: s.remoteAddress, port: s.remotePort };
}

/** "ip:port" of the client as the socket API gives it (an IPv4-mapped form included), or "?:0". */
export function sourceLabel(socket: Socket | Duplex): string {
  const c = clientOf(socket);
  return formatHostPort(c.address ?? '?', c.port ?? 0);
}

/** The client's IP as the socket API gives it (an IPv4-mapped IPv6 form included), or '-'. */
export function clientIp(socket: Socket | Duplex): string {
  return clientOf(socket).address ?? '-';
}

/**
 * Read the header of a connection on a PROXY listener. Resolves true once the client's address is
 * known (the socket then holds the bytes after the header, paused, for the face to read), or false
 * when the connection was closed (refused is told why first).
 */
export function readProxyHeader(
  socket: Socket,
  trust: ProxyTrust,
  refused: (reason: ProxyRefusal, detail: string, peer: string) => void,
  timeoutMs = PROXY_HEADER_TIMEOUT_MS,
): Promise<boolean> {
  const ip = socket.remoteAddress ? parseIp(socket.remoteAddress) : undefined;
  if (!ip) {
    socket.destroy();
    return Promise.resolve(false);
  }
  const peerPort = socket.remotePort ?? 0;
  const peer = formatHostPort(ip.toString(), peerPort);
  if (!trust.trusted.some((c) => cidrContains(c, ip))) {
    // Closed unread: not one byte of an untrusted peer is taken for a header, or for anything.
    socket.resetAndDestroy();
    refused('proxy_untrusted', `${peer} is not in trustedProxies`, peer);
    return Promise.resolve(false);
  }
  socket.on('error', () => {}); // a reset before the header ends in 'close' below
  return new Promise((resolve) => {
    let held: Buffer | undefined;
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.removeListener('readable', onReadable);
      socket.removeListener('close', onClose);
      resolve(ok);
    };
    const fail = (reason: ProxyRefusal, detail: string) => {
      socket.destroy();
      refused(reason, detail, peer);
      finish(false);
    };
    const onReadable = () => {
      for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null;) {
        held = held ? Buffer.concat([held, chunk]) : chunk;
        const r = parseProxyV2(held, PROXY_V2_DEFAULT_MAX);
        if (r.state === 'incomplete') continue;
        if (r.state === 'invalid') {
          const missing = !mayBeProxyV2(held.subarray(0, 12));
          return fail(missing ? 'proxy_header_missing' : 'proxy_header_invalid', r.reason);
        }
        const rest = held.subarray(r.consumed);
        const h = r.header;
        origins.set(
          socket,
          h.command === 'proxy' && (h.family === 'ipv4' || h.family === 'ipv6')
            ? { address: h.source.address, port: h.source.port, via: peer }
            : // LOCAL and UNSPEC: the connection's own endpoints, as read before it could close.
              { address: ip.toString(), port: peerPort },
        );
        if (rest.length > 0) socket.unshift(rest);
        return finish(true);
      }
    };
    const onClose = () => fail('proxy_header_missing', 'closed before a complete header');
    const timer = setTimeout(
      () => fail('proxy_header_timeout', `no complete header within ${timeoutMs} ms`),
      timeoutMs,
    );
    socket.on('readable', onReadable);
    socket.once('close', onClose);
  });
}

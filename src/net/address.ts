// host:port parsing for listen and target strings. IPv6 hosts are bracketed: "[::1]:6379".
import { parseIp } from './cidr.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface HostPortRange {
  readonly host: string;
  readonly ports: readonly [number, number];
}

const HOSTNAME =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

export function isHostname(s: string): boolean {
  return HOSTNAME.test(s);
}

/** Split "host:port", "[v6]:port" or "host:lo-hi". Returns an error message on failure. */
export function splitHostPort(text: string): { host: string; port: string } | string {
  const s = text.trim();
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0 || s[end + 1] !== ':') return `"${s}" is not [IPv6]:port`;
    return { host: s.slice(1, end), port: s.slice(end + 2) };
  }
  const colon = s.lastIndexOf(':');
  if (colon < 0) return `"${s}" has no port; write HOST:PORT`;
  const host = s.slice(0, colon);
  if (host.includes(':')) return `"${s}": bracket IPv6 addresses, as "[${host}]:${s.slice(colon + 1)}"`;
  return { host, port: s.slice(colon + 1) };
}

function checkHost(host: string): string | undefined {
  if (host === '') return 'empty host';
  if (parseIp(host)) return undefined;
  if (/^[\d.]+$/.test(host)) return `"${host}" is not a valid IPv4 address`;
  if (!isHostname(host)) return `"${host}" is not a valid host name or IP address`;
  return undefined;
}

function checkPort(p: string): number | string {
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) return `"${p}" is not a port (1-65535)`;
  return Number(p);
}

export function parseHostPort(text: string): HostPort | string {
  const parts = splitHostPort(text);
  if (typeof parts === 'string') return parts;
  const err = checkHost(parts.host);
  if (err) return err;
  const port = checkPort(parts.port);
  if (typeof port === 'string') return port;
  return { host: parts.host, port };
}

/** "host:port" or "host:lo-hi" (a target range that matches a listen range port for port). */
export function parseHostPortRange(text: string): HostPortRange | string {
  const parts = splitHostPort(text);
  if (typeof parts === 'string') return parts;
  const err = checkHost(parts.host);
  if (err) return err;
  const m = /^(\d+)-(\d+)$/.exec(parts.port);
  if (!m) {
    const port = checkPort(parts.port);
    if (typeof port === 'string') return port;
    return { host: parts.host, ports: [port, port] };
  }
  const lo = checkPort(m[1]!);
  const hi = checkPort(m[2]!);
  if (typeof lo === 'string') return lo;
  if (typeof hi === 'string') return hi;
  if (lo > hi) return `port range "${parts.port}" runs backwards`;
  return { host: parts.host, ports: [lo, hi] };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** True when binding a and b would collide (same port, same address or either is a wildcard). */
export function bindsCollide(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port) return false;
  const wild = (h: string) => h === '0.0.0.0' || h === '::' || h === '';
  if (wild(a.host) || wild(b.host)) return true;
  return (parseIp(a.host)?.toString() ?? a.host) === (parseIp(b.host)?.toString() ?? b.host);
}

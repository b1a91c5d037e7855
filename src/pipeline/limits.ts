// The limits step of admission: each listener has a gate (policy/connection-limits.ts) that the
// runtime hands to every socket it accepts there (gateOf), and admitOrRefuse asks it after the
// security groups: the listener's open connections, the source's open connections and its rate of
// new ones. An admitted socket is counted until it closes. A refusal is audited like every denial
// (admit.ts) and logged, at most once per RefusalLog.INTERVAL_MS per listener and reason with the
// count in between, so a flood does not become a flood of log lines.
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { parseIp } from '../net/cidr.js';
import { AcceptGate, type AcceptLimits, type LimitDecision } from '../policy/connection-limits.js';
import { clientOf } from './proxy-header.js';

/**
 * Who a per-source limit counts: the client's address (after a PROXY header), IPv4-mapped IPv6
 * as IPv4, and an IPv6 client by its /64 (one host or site can take any address of its /64).
 */
export function sourceKey(address: string | undefined): string {
  const ip = address ? parseIp(address) : undefined;
  if (!ip) return '?';
  if (ip.kind() === 'ipv4') return ip.toString();
  const parts = ip.toNormalizedString().split(':').slice(0, 4);
  return `${parts.join(':')}::/64`;
}

/** Logs refusals of one kind at most once per interval, with how many there were. */
export class RefusalLog {
  static readonly INTERVAL_MS = 10_000;
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  refused(log: Logger | undefined, fields: Record<string, unknown> & { reason: string }, key: string): void {
    const now = Date.now();
    const seen = this.last.get(key);
    if (seen && now - seen.at < RefusalLog.INTERVAL_MS) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.last.set(key, { at: now, suppressed: 0 });
    log?.warn(
      { ...fields, ...(suppressed > 0 ? { alsoRefused: suppressed } : {}) },
      'limit reached; refused',
    );
  }
}

/** The limits of one listener, for as long as its bind is kept across reloads. */
export class ListenerGate {
  readonly gate = new AcceptGate();
  readonly log = new RefusalLog();
  private readonly admitted = new WeakSet<Socket>();

  configure(limits: AcceptLimits): void {
    this.gate.configure(limits);
  }

  /** Admit `socket` (once; a second ask for the same socket is allowed and not counted again). */
  admit(socket: Socket): LimitDecision {
    if (this.admitted.has(socket)) return { allowed: true };
    const key = sourceKey(clientOf(socket).address);
    const d = this.gate.admit(key, performance.now());
    if (d.allowed) {
      this.admitted.add(socket);
      socket.once('close', () => this.gate.release(key));
    }
    return d;
  }
}

const gates = new WeakMap<Socket, ListenerGate>();

/** Set by the runtime on each accepted socket: the gate of the listener that accepted it. */
export function setGate(socket: Socket, gate: ListenerGate): void {
  gates.set(socket, gate);
}

export function gateOf(socket: Socket): ListenerGate | undefined {
  return gates.get(socket);
}

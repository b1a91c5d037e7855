// Dial: connect to an address that was already decided (resolve.ts), with a timeout and the
// reused-buffer reader of the relay.
import diagnostics from 'node:diagnostics_channel';
import net from 'node:net';
import type { AuditEventInput } from '../audit/events.js';
import { decisionFields } from '../audit/record.js';
import { GatehouseError, isGatehouseError } from '../errors.js';
import { formatHostPort, type HostPort } from '../net/address.js';
import type { Decision } from '../policy/decision.js';
import { DialDenied, resolveAndGuard, type AddressGuard } from './resolve.js';

export { DialDenied } from './resolve.js';

/** Published when a dial fails for want of descriptors (EMFILE/ENFILE). */
const descriptorsExhausted = diagnostics.channel('gatehouse:descriptors-exhausted');

export interface DialOptions {
  readonly connectTimeout: number;
  /** Read into a reused buffer instead of 'data' events (see read-pump.ts). */
  readonly onread?: net.OnReadOpts;
}

export interface Dialed {
  readonly socket: net.Socket;
  readonly address: string;
  readonly egress?: Decision;
}

/** Connect to `address` (an IP literal: the decided one) and `port`. */
export function dialAddress(address: string, port: number, opts: DialOptions): Promise<net.Socket> {
  const label = formatHostPort(address, port);
  return new Promise<net.Socket>((resolveDial, reject) => {
    const socket = net.connect({
      host: address,
      port,
      allowHalfOpen: true,
      noDelay: true,
      ...(opts.onread ? { onread: opts.onread } : {}),
    });
    const settle = () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
    };
    const timer = setTimeout(() => {
      settle();
      socket.destroy();
      reject(new GatehouseError('GH_ERR_DIAL_TIMEOUT', [label]));
    }, opts.connectTimeout);
    socket.once('connect', () => {
      settle();
      resolveDial(socket);
    });
    const onError = (err: NodeJS.ErrnoException) => {
      settle();
      // Out of descriptors: whoever owns the listeners stops accepting (runtime/descriptor-pause.ts).
      if ((err.code === 'EMFILE' || err.code === 'ENFILE') && descriptorsExhausted.hasSubscribers)
        descriptorsExhausted.publish(err.code);
      const code = err.code === 'ECONNREFUSED' ? 'GH_ERR_DIAL_REFUSED' : 'GH_ERR_DIAL_FAILED';
      reject(new GatehouseError(code, [label], { cause: err }));
    };
    socket.once('error', onError);
  });
}

/** Resolve once, guard the address (security-group egress), connect to exactly that address. */
export async function dial(
  target: HostPort,
  opts: DialOptions & { readonly guard?: AddressGuard },
): Promise<Dialed> {
  const { address, decision } = await resolveAndGuard(target, opts.guard);
  const socket = await dialAddress(address, target.port, opts);
  return { socket, address, ...(decision ? { egress: decision } : {}) };
}

/** The audit fields of a failed dial: `denied` with the deciding rule, or `dial_failed` with its code. */
export function dialFailure(
  err: unknown,
): Pick<AuditEventInput, 'event' | 'allowed' | 'reason' | 'rule' | 'where' | 'error'> {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof DialDenied) return { event: 'denied', ...decisionFields(err.decision), error: message };
  return {
    event: 'dial_failed',
    reason: isGatehouseError(err) ? err.code : 'GH_ERR_DIAL_FAILED',
    error: message,
  };
}

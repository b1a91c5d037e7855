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
  /** Read what the target sent before its reset (TargetSocket). */
  readonly readAfterReset?: boolean;
}

export interface Dialed {
  readonly socket: net.Socket;
  readonly address: string;
  readonly egress?: Decision;
}

/** A write failed because the peer is gone (it reset the connection, often after its last answer). */
function peerGone(err: NodeJS.ErrnoException | null | undefined): boolean {
  return !!err && err.syscall === 'write' && (err.code === 'EPIPE' || err.code === 'ECONNRESET');
}

/**
 * A target socket that reads what the target sent before its reset. A server that answers and
 * closes while the client is still sending (Redis after "-ERR Protocol error") resets the
 * connection, because our next bytes find it closed; Node destroys a socket on that failed write,
 * before the answer already in the kernel's receive queue is read, and the answer is lost. Here a
 * write that fails for that reason is dropped instead (the target takes no more bytes), and the
 * socket is destroyed once its read side has ended: the answer, then the reset or FIN, come
 * through as they would have without our write.
 */
class TargetSocket extends net.Socket {
  private gone = false;

  override _write(data: Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.gone) return cb();
    super._write(data, encoding, (err?: Error | null) => this.afterWrite(err, cb));
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    cb: (err?: Error | null) => void,
  ): void {
    if (this.gone) return cb();
    super._writev!(chunks, (err?: Error | null) => this.afterWrite(err, cb));
  }

  private afterWrite(err: Error | null | undefined, cb: (err?: Error | null) => void): void {
    if (!peerGone(err as NodeJS.ErrnoException)) return cb(err);
    if (!this.gone) {
      this.gone = true;
      // The read side ends by itself (the queued answer, then EOF or ECONNRESET); then close.
      if (this.readableEnded) process.nextTick(() => this.destroy());
      else this.once('end', () => this.destroy());
    }
    cb();
  }
}

/** Connect to `address` (an IP literal: the decided one) and `port`. */
export function dialAddress(address: string, port: number, opts: DialOptions): Promise<net.Socket> {
  const label = formatHostPort(address, port);
  return new Promise<net.Socket>((resolveDial, reject) => {
    const options = { allowHalfOpen: true, ...(opts.onread ? { onread: opts.onread } : {}) };
    const socket = opts.readAfterReset ? new TargetSocket(options) : new net.Socket(options);
    socket.connect({ host: address, port, noDelay: true });
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

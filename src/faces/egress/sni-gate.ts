// The SNI check of a CONNECT tunnel, on the client → origin direction of its relay: the bytes the
// client sends after 200 are held (not written to the origin) until they hold a whole ClientHello,
// or show they are not TLS, or the wait ends; then the server name is decided (policy/server-name.ts)
// and the held bytes either go on in one write or are dropped with the tunnel. The origin → client
// direction runs from the start, so a protocol where the server speaks first is not held up.
// Cut apart from tunnel.ts because it is the one part of a tunnel that reads what it relays.
import { readClientHello } from '../../protocols/tls-client-hello.js';
import type { EgressDecision } from '../../policy/egress-decision.js';
import type { TunnelOpening } from '../../policy/server-name.js';

/** A fatal TLS alert, access_denied (RFC 8446 6.2): what the client's TLS stack reports. */
const ACCESS_DENIED_ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x31]);

export interface GateHooks {
  /** The verdict on an opening. */
  readonly decide: (opening: TunnelOpening) => EgressDecision;
  /** Write bytes to the origin (the held hello once it passed, when no client chunk carries them). */
  readonly toTarget: (bytes: Buffer) => void;
  /** Refuse: `alert` is the TLS alert to send the client first (when it spoke TLS), or undefined. */
  readonly refuse: (decision: EgressDecision, alert: Buffer | undefined) => void;
}

export class SniGate {
  private held: Buffer | undefined;
  private state: 'waiting' | 'open' | 'closed' = 'waiting';
  private timer: NodeJS.Timeout | undefined;
  /** The decision once made: a pass (or report-only pass) or the refusal. */
  decision: EgressDecision | undefined;

  constructor(private readonly hooks: GateHooks) {}

  /** Start the wait; `timeoutMs` 0 means no limit (the client's FIN or the idle timeout end it). */
  start(first: Buffer, timeoutMs: number): void {
    if (timeoutMs > 0) {
      this.timer = setTimeout(() => this.settle({ kind: 'none' }, true), timeoutMs);
      this.timer.unref();
    }
    if (first.length > 0) {
      const out = this.transform(first);
      if (out) this.hooks.toTarget(out);
    }
  }

  /** The relay's client → target transform. */
  readonly transform = (chunk: Buffer): Buffer | null => {
    if (this.state === 'open') return chunk;
    if (this.state === 'closed') return null;
    const all = this.held ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = all;
    const r = readClientHello(all);
    if (r.state === 'incomplete') return null;
    const opening: TunnelOpening =
      r.state === 'hello'
        ? { kind: 'hello', serverName: r.serverName, ech: r.ech }
        : r.state === 'not-tls'
          ? { kind: 'not-tls' }
          : { kind: 'invalid', why: r.reason };
    return this.settle(opening, false) ? all : null;
  };

  /** The client's FIN or the tunnel's end before a verdict: no hello ever came. */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.state === 'waiting') this.state = 'closed';
    this.held = undefined;
  }

  /** Decide; true when the held bytes may go on (returned to the relay, or written here). */
  private settle(opening: TunnelOpening, fromTimer: boolean): boolean {
    if (this.state !== 'waiting') return false;
    if (this.timer) clearTimeout(this.timer);
    const d = this.hooks.decide(opening);
    this.decision = d;
    if (!d.allowed) {
      this.state = 'closed';
      const tls = opening.kind === 'hello' || opening.kind === 'invalid';
      this.held = undefined;
      this.hooks.refuse(d, tls ? ACCESS_DENIED_ALERT : undefined);
      return false;
    }
    this.state = 'open';
    const held = this.held;
    this.held = undefined;
    // From the timer no chunk is on its way through the relay: write what is held here.
    if (fromTimer && held && held.length > 0) this.hooks.toTarget(held);
    return true;
  }
}

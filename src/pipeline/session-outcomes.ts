// What became of the sessions of one process, as plain numbers: opened, denied, failed at the dial,
// bytes of the sessions that ended, handshake failures. Counted once per session at the shared
// steps (admitOrRefuse, the session registry, the dial outcome), never per byte: the bytes of a
// session are added once, when it ends, and a scrape reads live sessions' counts from the
// registry. Prometheus reads these at scrape time (runtime/session-metrics.ts); nothing here
// knows of it.
import { isGatehouseError } from '../errors.js';
import { DialDenied } from './resolve.js';

/** The tallies of one listener of one face. */
export class SiteTally {
  /** Let through by policy: opened as a session, or failed at the dial before it could be. */
  allowed = 0;
  /** Refused by policy. */
  denied = 0;
  /** Bytes of the sessions that have ended (live ones are read from the registry). */
  bytesFromClient = 0;
  bytesToClient = 0;
}

/** key → key → count, grown on first use; label values come from the config and closed sets. */
type Counts = Map<string, Map<string, number>>;

function bump(counts: Counts, a: string, b: string): void {
  let inner = counts.get(a);
  if (!inner) counts.set(a, (inner = new Map()));
  inner.set(b, (inner.get(b) ?? 0) + 1);
}

export class SessionOutcomes {
  /** face → listener → tally */
  readonly sites = new Map<string, Map<string, SiteTally>>();
  /** face → reason → denials */
  readonly denials: Counts = new Map();
  /** face → reason (an error code) → failed dials */
  readonly dialFailures: Counts = new Map();
  /** access endpoint → reason → failed handshakes and refused certificates */
  readonly handshakeFailures: Counts = new Map();

  site(face: string, listener: string): SiteTally {
    let byListener = this.sites.get(face);
    if (!byListener) this.sites.set(face, (byListener = new Map()));
    let t = byListener.get(listener);
    if (!t) byListener.set(listener, (t = new SiteTally()));
    return t;
  }

  /** A session was registered: the decision allowed it and its target answered. */
  opened(face: string, listener: string): void {
    this.site(face, listener).allowed++;
  }

  /** A session ended with these totals. */
  ended(face: string, listener: string, bytesFromClient: number, bytesToClient: number): void {
    const t = this.site(face, listener);
    t.bytesFromClient += bytesFromClient;
    t.bytesToClient += bytesToClient;
  }

  /** Policy refused a session: security groups, authorization rules, an allowlist, a guard. */
  denied(face: string, listener: string, reason: string): void {
    this.site(face, listener).denied++;
    bump(this.denials, face, reason);
  }

  /**
   * An allowed session whose target could not be reached (`reason`: an error code). Most faces
   * dial before they register a session, so the failure is its one count as allowed; an egress
   * HTTP request registers first (`opened` counted it already).
   */
  dialFailed(face: string, listener: string, reason: string, opened = false): void {
    if (!opened) this.site(face, listener).allowed++;
    bump(this.dialFailures, face, reason);
  }

  /** A dial that threw, before a session: the guard's refusal is a denial, anything else a failed dial. */
  dialRefused(face: string, listener: string, err: unknown): void {
    if (err instanceof DialDenied) this.denied(face, listener, err.decision.reason);
    else this.dialFailed(face, listener, isGatehouseError(err) ? err.code : 'GH_ERR_DIAL_FAILED');
  }

  /** An mTLS client that did not get through: a TLS error, or a certificate refused after it. */
  handshakeFailed(endpoint: string, reason: string): void {
    bump(this.handshakeFailures, endpoint, reason);
  }
}

// Does the TLS inside a CONNECT tunnel ask for the host the CONNECT named? The proxy reads the
// first bytes the client sends after 200 (the ClientHello, protocols/tls-client-hello.ts) and asks
// this before any of them reaches the origin. A hello naming another host is domain fronting: the
// allowlist passed one name and the origin (a CDN that serves many) would serve another. Pure.
import type { EgressDecision, EgressReason } from './egress-decision.js';
import { normalizeHost, type InvalidHost, type NormalizedHost } from './egress-host.js';

/** What the client opened its tunnel with, as far as the server name goes. */
export type TunnelOpening =
  | { readonly kind: 'hello'; readonly serverName: string | undefined; readonly ech: boolean }
  /** The first bytes are not a TLS handshake record. */
  | { readonly kind: 'not-tls' }
  /** No whole ClientHello before the wait ended (or the client closed first). */
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid'; readonly why: string };

export interface ServerNameRules {
  /** sniMustMatch */
  readonly mustMatch: boolean;
  /** sniMissing; undefined: allow for IP literal targets, deny for names. */
  readonly missing: 'allow' | 'deny' | undefined;
  readonly reportOnly: boolean;
  /** FILE:LINE of the proxy's sniMustMatch (or of the proxy) and of its sniMissing. */
  readonly mustMatchWhere: string;
  readonly missingWhere: string;
}

const PASS: EgressDecision = { allowed: true, reason: 'allowlist_matched' };

function refuse(rules: ServerNameRules, reason: EgressReason, text: string, where: string): EgressDecision {
  const rule = { text, where };
  // Report-only lets this through as it does the allowlist, and says what it would have done.
  if (rules.reportOnly) return { allowed: true, reason: 'report_only', wouldDeny: reason, rule };
  return { allowed: false, reason, rule };
}

/**
 * The verdict on a tunnel's opening: `allowed` (the tunnel's own decision stands; the reason here
 * is a placeholder) or a refusal naming both names. `target` is the CONNECT host as the allowlist
 * saw it; the server name goes through the same normalisation.
 */
export function decideServerName(
  target: NormalizedHost | InvalidHost,
  opening: TunnelOpening,
  rules: ServerNameRules,
): EgressDecision {
  if (!rules.mustMatch || target.kind === 'invalid') return PASS;
  if (opening.kind === 'invalid')
    return refuse(
      rules,
      'sni_invalid',
      `unreadable ClientHello (${opening.why}) for "${target.text}"`,
      rules.mustMatchWhere,
    );
  if (opening.kind === 'hello' && opening.serverName !== undefined) {
    const sni = normalizeHost(opening.serverName);
    if (sni.kind !== 'invalid' && sni.text === target.text) return PASS;
    const ech = opening.ech ? ' (ECH outer name)' : '';
    return refuse(
      rules,
      'sni_mismatch',
      `SNI "${opening.serverName}"${ech} is not the CONNECT host "${target.text}"`,
      rules.mustMatchWhere,
    );
  }
  const missing = rules.missing ?? (target.kind === 'ip' ? 'allow' : 'deny');
  if (missing === 'allow') return PASS;
  const what =
    opening.kind === 'hello'
      ? 'a ClientHello without SNI'
      : opening.kind === 'not-tls'
        ? 'traffic that is not TLS'
        : 'no ClientHello in time';
  return refuse(rules, 'sni_missing', `${what} for "${target.text}" (sniMissing: deny)`, rules.missingWhere);
}

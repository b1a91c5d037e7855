// What the traffic paths of one egress proxy share: the proxy as they read it (ProxyState; the
// EgressProxy of proxy.ts is one) and the steps every path takes the same way: the session entry,
// the one record, a reply on a response, containing a bug. Cut apart from proxy.ts so that each
// path takes the proxy object itself (no context object per request or per connection) without
// importing proxy.ts: imports run proxy.ts → the paths → here, never back up.
import { clientOf, clientIp, sourceLabel } from '../../pipeline/proxy-header.js';
import type { RefusalLog } from '../../pipeline/limits.js';
import { HeldSlot, type ConcurrencyGate } from '../../policy/connection-limits.js';
import type { EgressDecision } from '../../policy/egress-decision.js';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { formatHostPort } from '../../net/address.js';
import type { ByteCounts, CloseReason } from '../../pipeline/session-registry.js';
import { openSession, type OpenSession } from '../../pipeline/session-runner.js';
import type { AccessLog } from './access-log.js';
import type { Decider, Slot } from './decide.js';
import type { ProxyRequest } from './fast-front.js';
import type { EgressMetrics } from './metrics.js';
import { recordRequest, type FinishInput, type Kind, type RecordSite } from './record.js';
import type { ProxyTarget } from './request.js';
import type { ClientResponse } from './upstream-exchange.js';
import type { UpstreamPool } from './upstream-pool.js';
import { replyForCode, type WireReply } from './wire.js';

const FACE = 'egressProxy';

/** One of the proxy's live counts: requests in flight, open tunnels. */
export interface Gauge {
  inc(): void;
  dec(): void;
}

/** One egress proxy as its traffic paths read it; settings and sinks follow the snapshot in force. */
export interface ProxyState extends Decider {
  readonly metrics: EgressMetrics;
  /** Set once the proxy drains: replies then say Connection: close. */
  readonly draining: boolean;
  /** Node's HTTP client, for requests with a body or another method (forward.ts). */
  readonly agent: http.Agent;
  /** Raw keep-alive upstream connections, for bodiless GET/HEAD (fast-forward.ts). */
  readonly upstreams: UpstreamPool;
  readonly inflight: Gauge;
  readonly tunnels: Gauge;
  readonly accessLog: AccessLog | undefined;
  /** Where records go: refreshed by record() when what it names changes. */
  site: RecordSite;
  /** Requests and tunnels open at once, in all and per principal (settings.concurrency). */
  readonly concurrency: ConcurrencyGate;
  readonly limitLog: RefusalLog;
}

/** Who a per-principal limit counts: the proxy user, or the client's address where there is no auth. */
function principalOf(p: ProxyState, req: ProxyRequest, user: string | undefined): string {
  return user !== undefined ? `user:${user}` : p.memo.sourceKeyOf(req.socket);
}

/**
 * A place in the proxy's concurrency limits for one request or tunnel, or its refusal: a 503 with
 * the limit's reason, recorded (access log, audit `denied` with the limit's FILE:LINE) and logged
 * (throttled). The caller releases the slot when the request or tunnel ends.
 */
export function takeSlot(
  p: ProxyState,
  kind: Kind,
  req: ProxyRequest,
  user: string | undefined,
  start: number,
): Slot | { refused: WireReply } {
  const principal = principalOf(p, req, user);
  const d = p.concurrency.acquire(principal);
  if (d.allowed) return new HeldSlot(p.concurrency, principal);
  const reason = d.reason as 'max_concurrent' | 'max_concurrent_per_principal';
  const decision: EgressDecision = { allowed: false, reason, ...(d.rule ? { rule: d.rule } : {}) };
  const reply = replyForCode('GH_ERR_LIMIT', reason, [
    `Too many requests at once${reason === 'max_concurrent' ? ' through this proxy' : ` for ${user ?? 'this address'}`}: ${d.rule?.text ?? reason}.`,
  ]);
  const client = clientIp(req.socket);
  record(p, kind, {
    start,
    client,
    via: clientOf(req.socket).via,
    method: req.method,
    url: req.url,
    reply,
    decision,
    user,
  });
  p.limitLog.refused(
    p.ctx?.log,
    { face: FACE, listener: p.settings.listener, source: client, user, reason, limit: d.rule?.text },
    reason,
  );
  return { refused: reply };
}

/** Who asked for what, since when: one request or tunnel as the session registry lists it. */
export function sessionStart(
  p: ProxyState,
  id: string,
  req: ProxyRequest,
  target: ProxyTarget,
  user: string | undefined,
  startMs: number,
) {
  return {
    id,
    face: FACE,
    listener: p.settings.listener,
    source: sourceLabel(req.socket),
    target: formatHostPort(target.host.kind === 'invalid' ? '?' : target.host.text, target.port),
    identity: user,
    startMs,
  };
}

/** Register one request (its bytes are an HTTP exchange, not a relay) until its response ends. */
export function openRequest(
  p: ProxyState,
  req: ProxyRequest,
  target: ProxyTarget,
  user: string | undefined,
  start: number,
  counts: ByteCounts,
  close: (reason: CloseReason) => void,
): OpenSession {
  const sessions = p.ctx!.sessions;
  return openSession(sessions, sessionStart(p, sessions.newId(), req, target, user, start), counts, close);
}

export function record(p: ProxyState, kind: Kind, f: FinishInput): void {
  // One site object, refreshed when what it names changes: nothing is built per request.
  const site = p.site;
  if (
    site.settings !== p.settings ||
    site.accessLog !== p.accessLog ||
    site.audit !== p.ctx?.audit ||
    site.log !== p.ctx?.log ||
    site.outcomes !== p.ctx?.sessions.outcomes
  )
    p.site = {
      settings: p.settings,
      metrics: p.metrics,
      accessLog: p.accessLog,
      log: p.ctx?.log,
      audit: p.ctx?.audit,
      outcomes: p.ctx?.sessions.outcomes,
    };
  recordRequest(p.site, kind, f);
}

export function sendReply(p: ProxyState, res: ClientResponse, r: WireReply): void {
  if (res.headersSent || res.destroyed) return;
  const headers = r.headers.flat();
  headers.push('Content-Length', String(Buffer.byteLength(r.body)));
  if (p.draining) headers.push('Connection', 'close');
  res.writeHead(r.status, r.statusText, headers);
  res.end(r.body);
}

export function failed(p: ProxyState, err: unknown, sock: Duplex): void {
  p.ctx?.log.error({ proxy: p.settings.name, err }, 'egress request failed unexpectedly');
  sock.destroy();
}

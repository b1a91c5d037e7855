// What the traffic paths of one egress proxy share: the proxy as they read it (ProxyState; the
// EgressProxy of proxy.ts is one) and the steps every path takes the same way: the session entry,
// the one record, a reply on a response, containing a bug. Cut apart from proxy.ts so that each
// path takes the proxy object itself (no context object per request or per connection) without
// importing proxy.ts: imports run proxy.ts → the paths → here, never back up.
import { sourceLabel } from '../../pipeline/proxy-header.js';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { formatHostPort } from '../../net/address.js';
import type { ByteCounts, CloseReason } from '../../pipeline/session-registry.js';
import { openSession, type OpenSession } from '../../pipeline/session-runner.js';
import type { AccessLog } from './access-log.js';
import type { Decider } from './decide.js';
import type { ProxyRequest } from './fast-front.js';
import type { EgressMetrics } from './metrics.js';
import { recordRequest, type FinishInput, type Kind, type RecordSite } from './record.js';
import type { ProxyTarget } from './request.js';
import type { ClientResponse } from './upstream-exchange.js';
import type { UpstreamPool } from './upstream-pool.js';
import type { WireReply } from './wire.js';

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

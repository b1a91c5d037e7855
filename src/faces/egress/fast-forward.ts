// Bodiless GET/HEAD, decided and allowed: the request head goes upstream in one write over a raw
// keep-alive connection (upstream-exchange.ts over upstream-pool.ts), the response streams back,
// then the one record. Most requests take this path: every one the fast front read, and the
// bodiless GET/HEAD that Node's server parsed. Cut here because it is the path that avoids Node's
// HTTP client, and past the decision shares nothing with the path through it (forward.ts).
import { clientIp, clientOf } from '../../pipeline/proxy-header.js';
import type { OpenSession } from '../../pipeline/session-runner.js';
import type { Ready } from './decide.js';
import type { ProxyRequest } from './fast-front.js';
import { failed, openRequest, record, sendReply, type ProxyState } from './proxy-state.js';
import {
  requestHead,
  requestHeadersForUpstream,
  responseHeadersForClient,
  type ProxyTarget,
} from './request.js';
import { exchange, type ClientResponse, type ExchangeResult } from './upstream-exchange.js';
import { replyForError, type WireReply } from './wire.js';

/** Bodiless GET/HEAD: raw pooled upstream connection, response framed by protocols/http-response.ts. */
export function fastForward(
  p: ProxyState,
  req: ProxyRequest,
  res: ClientResponse,
  target: ProxyTarget,
  ready: Ready,
  start: number,
  done: () => void,
): void {
  const method = req.method;
  const counts = { bytesFromClient: 0, bytesToClient: 0 };
  p.inflight.inc();
  const headers = requestHeadersForUpstream(req.rawHeaders, target.authority, false);
  headers.push('Connection', 'keep-alive');
  const session = openRequest(p, req, target, ready.user, start, counts, () => res.destroy());
  const draining = () => p.draining;
  exchange(
    {
      pool: p.upstreams,
      address: ready.address,
      port: target.port,
      method,
      head: requestHead(method, target.path, headers),
      connectTimeout: p.settings.connectTimeout,
      idleTimeout: p.settings.idleTimeout,
      res,
      clientHeaders: (head) => {
        const out = responseHeadersForClient(head.rawHeaders);
        if (draining()) out.push('Connection', 'close');
        return out;
      },
    },
    (r) => {
      try {
        afterExchange(p, req, ready, start, session, counts, r, res);
      } catch (err) {
        failed(p, err, req.socket);
      }
      done();
    },
  );
}

function afterExchange(
  p: ProxyState,
  req: ProxyRequest,
  ready: Ready,
  start: number,
  session: OpenSession,
  counts: { bytesToClient: number },
  r: ExchangeResult,
  res: ClientResponse,
): void {
  counts.bytesToClient = r.bytesToClient;
  let failure: WireReply | undefined;
  if (r.error) {
    failure = replyForError(r.error, req.url);
    sendReply(p, res, failure);
  }
  session.end();
  p.inflight.dec();
  ready.slot?.release();
  p.metrics.countBytes(p.settings.name, 0, r.bytesToClient);
  record(p, 'http', {
    start,
    client: clientIp(req.socket),
    via: clientOf(req.socket).via,
    method: req.method,
    url: req.url,
    decision: ready.decision,
    user: ready.user,
    peer: ready.address,
    ...(failure
      ? { reply: failure }
      : { status: r.status, bytes: r.bytesToClient, contentType: r.contentType }),
    session: session.id,
    bytesIn: 0,
  });
}

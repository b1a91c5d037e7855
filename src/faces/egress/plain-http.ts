// One plain HTTP request (not CONNECT, not Upgrade), from either front: the target from the
// absolute URL, or the proxy's own endpoints for an origin-form one (GET /healthz, /metrics); the
// decision (decide.ts); then a refusal, or the path that carries it: forward.ts for a body or
// another method, fast-forward.ts for bodiless GET/HEAD. Cut here because this is where a plain
// request's way is chosen, the same for both fronts; what each way does is in its own file.
import { clientIp, clientOf } from '../../pipeline/proxy-header.js';
import type http from 'node:http';
import { prepare, type Prepared } from './decide.js';
import { fastForward } from './fast-forward.js';
import type { ProxyRequest } from './fast-front.js';
import { forward } from './forward.js';
import { failed, record, sendReply, takeSlot, type ProxyState } from './proxy-state.js';
import { parseAbsoluteUrl, type ProxyTarget } from './request.js';
import type { ClientResponse } from './upstream-exchange.js';
import { replyForCode, replyForDecision, replyForError } from './wire.js';

/**
 * One plain HTTP request, from the fast front (bodiless GET/HEAD, `incoming` unset) or from Node's
 * server (`incoming` set, any method, maybe a body); `done` once the response is complete.
 * Callbacks rather than promises: most requests decide synchronously, and each promise hop
 * (an async function returning the response's promise, then the front's `then`) was a
 * measurable share of a request.
 */
export function serveRequest(
  p: ProxyState,
  req: ProxyRequest,
  res: ClientResponse,
  incoming: http.IncomingMessage | undefined,
  done: () => void,
): void {
  try {
    handleRequest(p, req, res, incoming, done);
  } catch (err) {
    failed(p, err, req.socket);
    done();
  }
}

function handleRequest(
  p: ProxyState,
  req: ProxyRequest,
  res: ClientResponse,
  incoming: http.IncomingMessage | undefined,
  done: () => void,
): void {
  const start = Date.now();
  const url = req.url;
  if (url.startsWith('/') && incoming) return local(p, incoming, res as http.ServerResponse, url);
  const target = parseAbsoluteUrl(url, p.memo.normalize);
  if (typeof target === 'string') {
    const r = replyForCode('GH_ERR_PROXY_BAD_REQUEST', 'GH_ERR_PROXY_BAD_REQUEST', [target]);
    sendReply(p, res, r);
    record(p, 'http', {
      start,
      client: clientIp(req.socket),
      via: clientOf(req.socket).via,
      method: req.method,
      url,
      reply: r,
    });
    return done();
  }
  const prepared = prepare(p, req, false, target);
  if (!(prepared instanceof Promise)) return proceed(p, req, res, incoming, target, prepared, start, done);
  prepared
    .then((ready) => proceed(p, req, res, incoming, target, ready, start, done))
    .catch((err: unknown) => {
      failed(p, err, req.socket);
      done();
    });
}

/** The request decided: a refusal, or the request on its way upstream. */
function proceed(
  p: ProxyState,
  req: ProxyRequest,
  res: ClientResponse,
  incoming: http.IncomingMessage | undefined,
  target: ProxyTarget,
  ready: Prepared,
  start: number,
  done: () => void,
): void {
  if (res.destroyed) return done();
  if ('denied' in ready || 'error' in ready) {
    const r =
      'denied' in ready
        ? replyForDecision(ready.denied, req.url, p.settings.auth?.realm)
        : replyForError(ready.error, req.url);
    sendReply(p, res, r);
    record(p, 'http', {
      start,
      client: clientIp(req.socket),
      via: clientOf(req.socket).via,
      method: req.method,
      url: req.url,
      reply: r,
      ...('denied' in ready ? { decision: ready.denied, user: ready.user } : {}),
    });
    return done();
  }
  const slot = takeSlot(p, 'http', req, ready.user, start);
  if ('refused' in slot) {
    sendReply(p, res, slot.refused);
    return done();
  }
  ready.slot = slot;
  if (incoming) {
    const hasBody =
      incoming.headers['transfer-encoding'] !== undefined ||
      (incoming.headers['content-length'] ?? '0') !== '0';
    if (hasBody || (req.method !== 'GET' && req.method !== 'HEAD'))
      return forward(p, req, incoming, res as http.ServerResponse, target, ready, start, hasBody);
  }
  fastForward(p, req, res, target, ready, start, done);
}

function local(p: ProxyState, req: http.IncomingMessage, res: http.ServerResponse, url: string): void {
  const path = url.split('?')[0];
  if (req.method === 'GET' && path === '/healthz') {
    res.writeHead(p.draining ? 503 : 200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
    res.end(p.draining ? 'draining\n' : 'ok\n');
    return;
  }
  if (req.method === 'GET' && path === '/metrics' && p.settings.metrics) {
    // The whole host's numbers (every worker's), not only this process's.
    const hub = p.ctx?.metrics;
    void (hub ? hub.scrape() : p.metrics.registry.metrics()).then(
      (text) => {
        res.writeHead(200, { 'Content-Type': hub?.contentType ?? p.metrics.registry.contentType });
        res.end(text);
      },
      (err: unknown) => {
        p.ctx?.log.warn({ err }, 'metrics scrape failed');
        res.writeHead(503, { 'Content-Type': 'text/plain' });
        res.end('metrics unavailable\n');
      },
    );
    return;
  }
  const r = replyForCode('GH_ERR_PROXY_BAD_REQUEST', 'GH_ERR_PROXY_BAD_REQUEST', [
    `"${url.slice(0, 64)}" is not an absolute URL; this is a proxy (GET /healthz and /metrics are served here)`,
  ]);
  sendReply(p, res, r);
}

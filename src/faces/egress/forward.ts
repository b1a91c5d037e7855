// Requests with a body or another method than GET/HEAD, decided and allowed, as Node's HTTP
// server parsed them: http.request to the decided address through the proxy's keep-alive agent,
// streamed both ways, then the one record. Cut here because this path runs on Node's HTTP client
// and streams (a request body), where fast-forward.ts has its own framing and pool; only requests
// Node's server parsed can take it.
import { clientIp, clientOf } from '../../pipeline/proxy-header.js';
import http from 'node:http';
import type { Socket } from 'node:net';
import { GatehouseError, isGatehouseError } from '../../errors.js';
import { formatHostPort } from '../../net/address.js';
import type { Ready } from './decide.js';
import type { ProxyRequest } from './fast-front.js';
import { openRequest, record, sendReply, type ProxyState } from './proxy-state.js';
import { requestHeadersForUpstream, responseHeadersForClient, type ProxyTarget } from './request.js';
import { replyForError, type WireReply } from './wire.js';

/** Requests with a body or another method: http.request, streamed both ways. */
export function forward(
  p: ProxyState,
  preq: ProxyRequest,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target: ProxyTarget,
  ready: Ready,
  start: number,
  hasBody: boolean,
): void {
  const name = p.settings.name;
  const url = req.url!;
  let bytesIn = 0;
  let bytesOut = 0;
  let status = 0;
  let contentType: string | undefined;
  let failure: WireReply | undefined;
  p.inflight.inc();
  const up = http.request({
    host: ready.address,
    port: target.port,
    method: req.method,
    path: target.path,
    headers: requestHeadersForUpstream(req.rawHeaders, target.authority, false),
    agent: p.agent,
    setHost: false,
  });
  up.setTimeout(p.settings.idleTimeout, () =>
    up.destroy(new GatehouseError('GH_ERR_DIAL_TIMEOUT', [formatHostPort(ready.address, target.port)])),
  );
  up.on('socket', (s: Socket) => {
    if (!s.connecting) return;
    const t = setTimeout(
      () =>
        up.destroy(new GatehouseError('GH_ERR_DIAL_TIMEOUT', [formatHostPort(ready.address, target.port)])),
      p.settings.connectTimeout,
    );
    s.once('connect', () => clearTimeout(t));
    s.once('close', () => clearTimeout(t));
  });
  up.on('response', (upRes) => {
    status = upRes.statusCode ?? 502;
    contentType = upRes.headers['content-type'];
    const headers = responseHeadersForClient(upRes.rawHeaders);
    if (p.draining) headers.push('Connection', 'close');
    try {
      res.writeHead(status, upRes.statusMessage, headers);
    } catch (err) {
      // A reply Node refuses to re-send (e.g. a status outside 100-999) is a bad gateway.
      upRes.destroy();
      up.destroy();
      failure = replyForError(err, url);
      sendReply(p, res, failure);
      return;
    }
    upRes.on('data', (c: Buffer) => (bytesOut += c.length));
    upRes.pipe(res);
    upRes.on('error', () => res.destroy());
  });
  up.on('error', (err) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const code = (err as NodeJS.ErrnoException).code;
    const wrapped = isGatehouseError(err)
      ? err
      : new GatehouseError(code === 'ECONNREFUSED' ? 'GH_ERR_DIAL_REFUSED' : 'GH_ERR_DIAL_FAILED', [
          formatHostPort(ready.address, target.port),
        ]);
    failure = replyForError(wrapped, url);
    sendReply(p, res, failure);
  });
  if (hasBody) {
    req.on('data', (c: Buffer) => (bytesIn += c.length));
    req.pipe(up);
  } else {
    // No body: headers go out in one write, without stream plumbing.
    req.resume();
    up.end();
  }
  const counts = {
    get bytesFromClient() {
      return bytesIn;
    },
    get bytesToClient() {
      return bytesOut;
    },
  };
  const session = openRequest(p, preq, target, ready.user, start, counts, () => {
    up.destroy();
    res.destroy();
  });
  const id = session.id;
  res.once('close', () => {
    session.end();
    p.inflight.dec();
    ready.slot?.release();
    if (!res.writableFinished) up.destroy();
    p.metrics.countBytes(name, bytesIn, bytesOut);
    record(p, 'http', {
      start,
      client: clientIp(req.socket),
      via: clientOf(req.socket).via,
      method: req.method ?? '-',
      url,
      decision: ready.decision,
      user: ready.user,
      peer: ready.address,
      ...(failure ? { reply: failure } : { status, bytes: bytesOut, contentType }),
      session: id,
      bytesIn,
    });
  });
}

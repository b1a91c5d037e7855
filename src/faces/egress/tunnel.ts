// CONNECT and Upgrade: the target from the head, the decision (decide.ts), a dial to exactly the
// decided address, then 200 Connection established (or the Upgrade request passed on) and raw
// bytes both ways through the session runner; a refusal is a Squid-style reply on the raw socket.
// Cut here because after its head a tunnel never speaks HTTP again: it shares the decision and
// the record with plain requests and nothing else (no response parsing, no upstream pool).
import { clientIp, clientOf } from '../../pipeline/proxy-header.js';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { dialAddress } from '../../pipeline/dial.js';
import { ReadPump } from '../../pipeline/read-pump.js';
import { runRelay } from '../../pipeline/session-runner.js';
import { prepare } from './decide.js';
import type { ProxyRequest } from './fast-front.js';
import { failed, record, sessionStart, takeSlot, type ProxyState } from './proxy-state.js';
import type { FinishInput } from './record.js';
import { parseAbsoluteUrl, parseConnectTarget, requestHead, requestHeadersForUpstream } from './request.js';
import { rawReply, replyForCode, replyForDecision, replyForError, type WireReply } from './wire.js';

/** One CONNECT or Upgrade request, on a socket that is the tunnel's from now on. */
export async function serveTunnel(
  p: ProxyState,
  kind: 'connect' | 'upgrade',
  req: ProxyRequest,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  const start = Date.now();
  const client = clientIp(req.socket);
  const via = clientOf(req.socket).via;
  const url = req.url;
  const method = req.method;
  socket.on('error', () => {});
  const target =
    kind === 'connect' ? parseConnectTarget(url, p.memo.normalize) : parseAbsoluteUrl(url, p.memo.normalize);
  const refuse = (r: WireReply, extra: Partial<FinishInput> = {}) => {
    if (!socket.destroyed) {
      socket.end(rawReply(r));
      // Read (and drop) to the client's FIN, so the half-open socket closes.
      socket.resume();
    }
    record(p, kind, { start, client, via, method, url, reply: r, ...extra });
  };
  if (typeof target === 'string')
    return refuse(replyForCode('GH_ERR_PROXY_BAD_REQUEST', 'GH_ERR_PROXY_BAD_REQUEST', [target]));
  const prepared = prepare(p, req, kind === 'connect', target);
  const ready = prepared instanceof Promise ? await prepared : prepared;
  if ('denied' in ready)
    return refuse(replyForDecision(ready.denied, url, p.settings.auth?.realm), {
      decision: ready.denied,
      user: ready.user,
    });
  if ('error' in ready) return refuse(replyForError(ready.error, url));
  if (socket.destroyed) return;
  const slot = takeSlot(p, kind, req, ready.user, start);
  if ('refused' in slot) {
    if (!socket.destroyed) {
      socket.end(rawReply(slot.refused));
      socket.resume();
    }
    return;
  }
  let upstream: Socket;
  // Tunnels carry raw bytes: the target's reads go through a pump (no allocation per read).
  const pump = new ReadPump();
  try {
    // The address that was decided and guarded, exactly: never looked up again.
    upstream = await dialAddress(ready.address, target.port, {
      connectTimeout: p.settings.connectTimeout,
      onread: pump.onread,
    });
  } catch (err) {
    slot.release();
    return refuse(replyForError(err, url), {
      decision: ready.decision,
      user: ready.user,
      peer: ready.address,
    });
  }
  if (socket.destroyed) {
    slot.release();
    upstream.destroy();
    return;
  }
  if (kind === 'connect') socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
  else
    upstream.write(
      requestHead(method, target.path, requestHeadersForUpstream(req.rawHeaders, target.authority, true)),
    );
  if (head.length > 0) upstream.write(head);
  const name = p.settings.name;
  p.tunnels.inc();
  const ctx = p.ctx!;
  const id = ctx.sessions.newId();
  runRelay(
    ctx.sessions,
    sessionStart(p, id, req, target, ready.user, start),
    socket,
    upstream,
    { idleTimeout: p.settings.idleTimeout, timers: ctx.timers, targetPump: pump },
    (result) => {
      p.tunnels.dec();
      slot.release();
      p.metrics.countBytes(name, result.bytesFromClient, result.bytesToClient);
      try {
        record(p, kind, {
          start,
          client,
          via,
          method,
          url,
          decision: ready.decision,
          user: ready.user,
          peer: ready.address,
          status: kind === 'connect' ? 200 : 101,
          bytes: result.bytesToClient,
          bytesIn: result.bytesFromClient,
          session: id,
          closeReason: result.reason,
        });
      } catch (err) {
        failed(p, err, socket);
      }
    },
  );
  // The fast front hands CONNECT sockets over paused, so nothing is read before the relay listens.
  socket.resume();
}

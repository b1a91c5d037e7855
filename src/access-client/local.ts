// Local listeners of `gatehouse connect`: fixed forwards (LOCALPORT:HOST:PORT) and a SOCKS5 server,
// each local connection carried as one CONNECT stream of the shared HTTP/2 session.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { formatHostPort } from '../net/address.js';
import {
  CMD_CONNECT,
  METHOD_NO_AUTH,
  METHOD_NONE_ACCEPTABLE,
  methodReply,
  parseGreeting,
  parseRequest,
  Reply,
  reply,
} from '../protocols/socks5.js';
import { RefusedError, type TunnelClient } from './tunnel.js';

export interface LocalEvents {
  /** A target was refused or failed: what the person at the terminal must see. */
  onRefused(target: string, err: Error): void;
}

/** Join a local socket and a tunnel stream, both directions, with backpressure and half-close. */
export function join(local: net.Socket, remote: Duplex): void {
  local.pipe(remote);
  remote.pipe(local);
  const destroyBoth = () => {
    local.destroy();
    remote.destroy();
  };
  local.on('error', destroyBoth);
  remote.on('error', destroyBoth);
  local.on('close', () => remote.destroy());
  remote.on('close', () => local.destroySoon());
}

function listen(server: net.Server, bind: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: bind, port }, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}

export function startForward(
  tunnel: TunnelClient,
  bind: string,
  localPort: number,
  target: string,
  events: LocalEvents,
): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (local) => {
    local.pause();
    local.on('error', () => {});
    tunnel.open(target).then(
      (remote) => {
        join(local, remote);
        local.resume();
      },
      (err: Error) => {
        local.destroy();
        events.onRefused(target, err);
      },
    );
  });
  return listen(server, bind, localPort);
}

function socksReplyFor(err: Error): number {
  if (err instanceof RefusedError) {
    if (err.refusal.status === 403) return Reply.notAllowed;
    if (err.refusal.status === 504) return Reply.ttlExpired;
    if (err.refusal.reason === 'GH_ERR_DIAL_REFUSED') return Reply.connectionRefused;
    return Reply.hostUnreachable;
  }
  return Reply.generalFailure;
}

export function startSocks(
  tunnel: TunnelClient,
  bind: string,
  port: number,
  events: LocalEvents,
): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (local) => {
    local.on('error', () => {});
    let buf = Buffer.alloc(0);
    let stage: 'greeting' | 'request' | 'done' = 'greeting';
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length > 1024) return local.destroy(); // longer than any SOCKS5 frame
      if (stage === 'greeting') {
        const g = parseGreeting(buf);
        if (g.kind === 'more') return;
        if (g.kind === 'error') return local.destroy();
        buf = buf.subarray(g.consumed);
        if (!g.value.methods.includes(METHOD_NO_AUTH)) {
          local.end(methodReply(METHOD_NONE_ACCEPTABLE));
          return;
        }
        local.write(methodReply(METHOD_NO_AUTH));
        stage = 'request';
      }
      if (stage === 'request') {
        const r = parseRequest(buf);
        if (r.kind === 'more') return;
        if (r.kind === 'error') {
          local.end(reply(r.reply ?? Reply.generalFailure));
          return;
        }
        if (r.value.command !== CMD_CONNECT) {
          local.end(reply(Reply.commandNotSupported));
          return;
        }
        stage = 'done';
        local.removeListener('data', onData);
        local.pause();
        const rest = buf.subarray(r.consumed);
        const target = formatHostPort(r.value.host, r.value.port);
        tunnel.open(target).then(
          (remote) => {
            local.write(reply(Reply.succeeded));
            if (rest.length > 0) remote.write(rest);
            join(local, remote);
            local.resume();
          },
          (err: Error) => {
            local.end(reply(socksReplyFor(err)));
            events.onRefused(target, err);
          },
        );
      }
    };
    local.on('data', onData);
  });
  return listen(server, bind, port);
}

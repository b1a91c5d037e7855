// A TLS origin for egress tests that records each ClientHello it receives, run inside a network
// namespace:
//   ip netns exec NS node --import tsx test/helpers/tls-origin.ts '{"bind":"203.0.113.10:443","key":…,"cert":…}'
// Each TCP connection prints {"connection":N}; its first bytes are read as a ClientHello and printed
// as {"hello":N,"serverName":…} (or {"notHello":N}) before TLS is served on them; a connection
// closed before any byte prints {"empty":N}. Over TLS it answers any request with "origin NAME".
// Prints {"ready":true} once listening.
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { readClientHello } from '../../src/protocols/tls-client-hello.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as { bind: string; key: string; cert: string };
const m = /^\[?(.*?)\]?:(\d+)$/.exec(opts.bind)!;
const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
let seq = 0;

const server = net.createServer((s) => {
  const n = ++seq;
  say({ connection: n });
  let buf = Buffer.alloc(0);
  s.on('error', () => {});
  const onEnd = () => {
    if (buf.length === 0) say({ empty: n });
  };
  s.on('end', onEnd);
  const onData = (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    const r = readClientHello(buf);
    if (r.state === 'incomplete') return;
    s.removeListener('data', onData);
    s.removeListener('end', onEnd);
    if (r.state !== 'hello') {
      say({ notHello: n });
      s.destroy();
      return;
    }
    say({ hello: n, serverName: r.serverName ?? null });
    s.pause();
    s.unshift(buf);
    // A JS stream under the TLS socket, so the bytes already read are handshaken on.
    const t = new tls.TLSSocket(Duplex.from({ readable: s, writable: s }), {
      isServer: true,
      key: opts.key,
      cert: opts.cert,
    });
    t.on('error', () => s.destroy());
    t.once('data', () => t.end(`HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\norigin\n`));
  };
  s.on('data', onData);
});
server.listen({ host: m[1]!, port: Number(m[2]) }, () => say({ ready: true }));
server.on('error', (err) => {
  process.stderr.write(`${opts.bind}: ${err.message}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => process.exit(0));

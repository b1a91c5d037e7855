// Writes the seed corpus under test/fuzz/corpus/ (run once; the files are committed, so a fuzz run
// never depends on this): real bytes where a real producer exists (Node's TLS ClientHellos, the
// RESP captures of test/fixtures/resp, a CRL signed by @peculiar/x509, easy-rsa's index), short
// hand-written ones for the rest. Regression seeds (a crash found by a campaign) are added by hand
// as corpus/NAME/regress-*.
//   node --import tsx test/fuzz/make-corpus.ts
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { webcrypto } from 'node:crypto';
import { x509 } from '../../src/pki/x509.js';
import { crlPem } from '../../src/pki/crl.js';
import { PP2_TYPE } from '../../src/protocols/proxy-v2.js';
import { encodeProxyV2 } from '../helpers/proxy-v2-encoder.js';
import { SIDES } from './targets.js';

const ROOT = new URL('./corpus/', import.meta.url);
const RESP = new URL('../fixtures/resp/', import.meta.url);

function put(target: string, name: string, data: string | Buffer): void {
  const dir = new URL(`${target}/`, ROOT);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(name, dir), data);
}

// RESP: the captured replies and requests, and each pair as one two-sided seed for the rewriter.
for (const f of readdirSync(RESP)) {
  const m = /^(.+)\.(resp|req)$/.exec(f);
  if (!m || m[1] === 'large-bulk') continue;
  put(m[2] === 'resp' ? 'resp-reply' : 'resp-request', f, readFileSync(new URL(f, RESP)));
  if (m[2] === 'req')
    put(
      'resp-rewrite',
      `${m[1]}.bin`,
      Buffer.concat([readFileSync(new URL(f, RESP)), SIDES, readFileSync(new URL(`${m[1]}.resp`, RESP))]),
    );
}

const heads = {
  'get-absolute':
    'GET http://example.com/a?b=c HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nProxy-Connection: Keep-Alive\r\n\r\n',
  'connect-auth':
    'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n',
  'head-close':
    'HEAD http://[::1]:8080/ HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
  'post-body': 'POST http://example.com/x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello',
  'http10-pipelined': 'GET / HTTP/1.0\r\n\r\nGET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n',
  upgrade:
    'GET http://example.com/ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
};
for (const [name, text] of Object.entries(heads)) put('http-request-head', `${name}.txt`, text);

const responses = {
  length: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
  chunked:
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: 1\r\n\r\n',
  'no-content': 'HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n',
  'close-delimited': 'HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody until close',
  'not-modified': 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n',
  'list-length': 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nConnection: close\r\n\r\nabc',
};
for (const [name, text] of Object.entries(responses)) put('http-response', `${name}.txt`, text);

put('socks5', 'ipv4.bin', Buffer.from([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0x18, 0xeb]));
put(
  'socks5',
  'domain.bin',
  Buffer.concat([
    Buffer.from([5, 2, 0, 2, 5, 1, 0, 3, 11]),
    Buffer.from('example.com'),
    Buffer.from([1, 0xbb]),
  ]),
);
put(
  'socks5',
  'ipv6.bin',
  Buffer.concat([Buffer.from([5, 1, 0, 5, 1, 0, 4]), Buffer.alloc(15), Buffer.from([1, 0x1f, 0x90])]),
);

put(
  'memcached-discovery',
  'text.bin',
  Buffer.concat([
    Buffer.from(
      'config get cluster\r\nset k 0 0 5\r\nhello\r\nget k\r\nversion\r\nms k 3 T0\r\nabc\r\nmg k v\r\n',
    ),
    SIDES,
    Buffer.from(
      'VERSION 1.6.21\r\nSTORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\nVERSION 1.6.21\r\nHD\r\nVA 3\r\nabc\r\n',
    ),
  ]),
);
put(
  'memcached-discovery',
  'binary.bin',
  Buffer.concat([
    Buffer.from([0x80, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    SIDES,
    Buffer.from([0x81, 0x0b]),
  ]),
);

// PROXY v2: what HAProxy and an AWS NLB send (v4, v6, LOCAL, TLVs, CRC32C).
put('proxy-v2', 'v4.bin', encodeProxyV2());
put(
  'proxy-v2',
  'v6.bin',
  encodeProxyV2({
    source: { address: '2001:db8::7', port: 40000 },
    destination: { address: '2001:db8::1', port: 443 },
  }),
);
put('proxy-v2', 'local.bin', encodeProxyV2({ command: 'local' }));
put(
  'proxy-v2',
  'tlvs-crc.bin',
  Buffer.concat([
    encodeProxyV2({
      tlvs: [
        { type: PP2_TYPE.AUTHORITY, value: Buffer.from('example.com') },
        { type: 0xea, value: Buffer.from('\x01vpce-0123456789abcdef') },
      ],
      crc: 'good',
    }),
    Buffer.from('GET / HTTP/1.1\r\n'),
  ]),
);

put(
  'conntrack-events',
  'lines.txt',
  [
    '    [NEW] tcp      6 120 SYN_SENT src=127.0.0.1 dst=127.0.0.1 sport=35494 dport=16379 [UNREPLIED] src=127.0.0.1 dst=127.0.0.1 sport=7001 dport=35494 mark=18248 id=3461078496',
    '[1795604071.777137]\t [UPDATE] tcp      6 120 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=45782 dport=16379 src=10.0.1.5 dst=10.0.0.2 sport=7001 dport=45782 [ASSURED] mark=18248 id=42',
    ' [DESTROY] tcp      6 src=10.0.0.1 dst=10.0.0.2 sport=45782 dport=16379 packets=10 bytes=1200 src=10.0.1.5 dst=10.0.0.2 sport=7001 dport=45782 packets=8 bytes=900 [ASSURED] mark=18248 id=42',
    '',
  ].join('\n'),
);

put(
  'cluster-nodes',
  'three.txt',
  [
    'e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-5460',
    '67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 10.0.0.2:6379@16379,node-2.internal master - 0 1426238316232 2 connected 5461-10922 [10923->-e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca]',
    '292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f :6379@16379 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 1 connected',
    'c3f2 10.0.0.9:6379@16379 master,fail - 0 0 3 disconnected 10923-16383',
    '',
  ].join('\n'),
);

put('config-yaml', 'example.yaml', readFileSync(new URL('../../examples/gatehouse.yaml', import.meta.url)));
put(
  'config-yaml',
  'groups.yaml',
  `securityGroups:
  office:
    ingress:
      - { ports: 6379-6380, source: 10.0.0.0/8, description: office }
    egress:
      - { ports: "443", destination: sg:office }
portForwards:
  cache:
    securityGroups: [office]
    proxyProtocol: v2
    trustedProxies: [10.1.0.0/16]
    forwards:
      - { listen: 6380, target: "10.0.1.5:6379" }
anchors:
  a: &a { x: 1 }
  b: { <<: *a }
`,
);

put(
  'allowlist',
  'allowlist.txt',
  "# the team's allowlist\n.example.com\napi.github.com\n10.0.0.1\n[2001:db8::1]\nbücher.de\ntrailing.dot.\n*.wild.example\n\n",
);
put(
  'htpasswd',
  'users',
  [
    'bob:$2y$05$CL9ftlwpGrI2AT.s/V0hreLqmsqElbx9YImuMBiPbF3jOXS2UJvE2',
    'amy:$apr1$6r68eJ.S$PjO0FIcL05q6H7n237OMw/',
    'sid:{SHA}/vNB+F2HQ559kaLUZbmHHvZrXpg=',
    'old:jNZ1UPV5qjjWo',
    '# comment',
    'garbage line',
    '',
  ].join('\n'),
);
put(
  'easyrsa-index',
  'index.txt',
  readFileSync(new URL('../fixtures/pki/index-easyrsa.txt', import.meta.url)),
);

// A CRL with entries, reasons and a CRL number, as PEM and as DER.
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
const ca = await x509.X509CertificateGenerator.createSelfSigned({
  name: 'CN=fuzz CA',
  keys: keys as never,
  signingAlgorithm: alg,
  notBefore: new Date(0),
  notAfter: new Date(2 ** 42),
});
const crl = await x509.X509CrlGenerator.create({
  issuer: ca.subjectName,
  thisUpdate: new Date(1_700_000_000_000),
  nextUpdate: new Date(1_800_000_000_000),
  entries: [
    {
      serialNumber: '77FE44A0839201F42C2E853C5C7ACF72',
      revocationDate: new Date(1_700_000_000_000),
      reason: x509.X509CrlReason.keyCompromise,
    },
    {
      serialNumber: '01',
      revocationDate: new Date(1_600_000_000_000),
      invalidity: new Date(1_500_000_000_000),
    },
  ],
  signingKey: keys.privateKey as never,
  signingAlgorithm: alg,
});
put('crl', 'crl.pem', crlPem(crl.rawData));
put('crl', 'crl.der', Buffer.from(crl.rawData));

// ClientHellos as Node's TLS sends them: with a name, TLS 1.2 only, with no name (an IP), with ALPN.
async function hello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((resolve) =>
    server.once('connection', (s) =>
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
      }),
    ),
  );
  const c = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, ...options });
  c.on('error', () => {});
  const b = await got;
  c.destroy();
  server.close();
  return b;
}
put('tls-client-hello', 'sni.bin', await hello({ servername: 'example.com' }));
put('tls-client-hello', 'tls12.bin', await hello({ servername: 'api.example.org', maxVersion: 'TLSv1.2' }));
put('tls-client-hello', 'no-sni.bin', await hello({}));
put(
  'tls-client-hello',
  'alpn.bin',
  await hello({ servername: 'h2.example', ALPNProtocols: ['h2', 'http/1.1'] }),
);
console.log('corpus written');

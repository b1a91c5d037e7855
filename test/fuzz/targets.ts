// Every parser of untrusted bytes, as a fuzz target: what it is fed, the tokens its mutator drops
// in, what counts as its own error (thrown by design and caught by its caller), and the properties
// checked per input beyond "no other throw": a streaming parser reads the same thing whole and in
// pieces; a reader of a prefix never decides differently from the whole.
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { parseHtpasswd } from '../../src/auth/htpasswd.js';
import { parseClusterNodes } from '../../src/cluster/topology.js';
import { parseConfig } from '../../src/config/load.js';
import { isGatehouseError } from '../../src/errors.js';
import { parseIndex } from '../../src/pki/ca-index-format.js';
import { crlNumberOf, parseCrl } from '../../src/pki/crl.js';
import { parseAllowlist } from '../../src/policy/allowlist.js';
import { parseConntrackBytes, parseConntrackEvent } from '../../src/protocols/conntrack-events.js';
import { parseRequestHead } from '../../src/protocols/http-request-head.js';
import { ChunkedDecoder, parseResponseHead } from '../../src/protocols/http-response.js';
import { clusterConfigReply, createDiscoveryInterceptor } from '../../src/protocols/memcached-discovery.js';
import { parseProxyV2 } from '../../src/protocols/proxy-v2.js';
import {
  createCommandTracker,
  createRespRewriteSession,
  type AddressMap,
} from '../../src/protocols/resp-rewrite.js';
import { createRespScanner, FAILED, NEED_MORE } from '../../src/protocols/resp-scanner.js';
import { parseReply } from '../../src/protocols/resp-value.js';
import { parseGreeting, parseRequest } from '../../src/protocols/socks5.js';
import { readClientHello } from '../../src/protocols/tls-client-hello.js';

/** Splits bytes at random points (the harness's seeded splitter). */
export type Split = (b: Buffer) => Buffer[];

export interface FuzzTarget {
  /** Also the corpus folder: test/fuzz/corpus/NAME/. */
  readonly name: string;
  /** What the parser reads, for the report. */
  readonly parser: string;
  /** Tokens the mutator inserts: what the format gives meaning to. */
  readonly dictionary: readonly string[];
  /** Parse one input; a throw (a failed property included) is a finding unless `expected` says otherwise. */
  run(input: Buffer, split: Split): void;
  /** The parser's own error type, thrown for bad input by design; anything else thrown is a crash. */
  readonly expected?: (err: unknown) => boolean;
  /** Relative cost: the quick run gives this target 1/weight of the cases (the config loader is slow). */
  readonly weight?: number;
}

/** Marks the boundary between the two directions of a two-sided seed (requests, then replies). */
export const SIDES = Buffer.from('\n--reply--\n');

function sides(input: Buffer): [Buffer, Buffer] {
  const at = input.indexOf(SIDES);
  return at < 0 ? [Buffer.alloc(0), input] : [input.subarray(0, at), input.subarray(at + SIDES.length)];
}

/** The reply boundaries the RESP scanner finds, and its error, reading `chunks` in order. */
function frameAll(chunks: readonly Buffer[]): { ends: number[]; error?: string } {
  const sc = createRespScanner();
  const ends: number[] = [];
  let base = 0;
  for (const c of chunks) {
    for (let p = 0; p < c.length;) {
      const e = sc.scan(c, p);
      if (e === NEED_MORE) break;
      if (e === FAILED) return { ends, error: sc.error!.code };
      ends.push(base + e);
      p = e;
    }
    base += c.length;
  }
  return { ends };
}

/**
 * A reader of a prefix: fed what has arrived so far at each chunk boundary, it must either ask for
 * more or decide as it does on the whole. `verdict` is what must agree (by default all of it; the
 * head readers' fallback reasons may differ, the verdict may not).
 */
function prefixConsistent<R extends object>(
  input: Buffer,
  split: Split,
  read: (b: Buffer) => R,
  incomplete: (r: R) => boolean,
  verdict: (r: R) => unknown = (r) => r,
): void {
  const whole = verdict(read(input));
  let have = 0;
  for (const c of split(input)) {
    have += c.length;
    const r = read(input.subarray(0, have));
    if (incomplete(r)) continue;
    assert.deepEqual(
      verdict(r),
      whole,
      `a prefix of ${have} bytes decided otherwise than all ${input.length}`,
    );
    return;
  }
}

/** A head reader's verdict: the head itself, or only that it fell back or failed. */
const headVerdict = (r: object) => ('head' in r ? r : Object.keys(r)[0]);

const RESP_TOKENS = [
  '\r\n',
  '*',
  '$',
  '+OK',
  '-MOVED 3999 10.0.0.1:6381',
  '-ASK 1 h:1',
  ':',
  '%',
  '~',
  '>',
  '|',
  '_',
  '#t',
  ',1.5',
  '(1',
  '!',
  '=',
  '$-1',
  '*-1',
  '*3\r\n',
  '$5\r\nhello\r\n',
  'CLUSTER',
  'SLOTS',
  'SHARDS',
  'NODES',
  'HELLO',
  '3',
  'MULTI',
  'EXEC',
  'SUBSCRIBE',
  'RESET',
  '10.0.0.1:6379@16379',
];

const PUBLIC_MAP: AddressMap = (host, port) =>
  host.startsWith('10.') || host.endsWith('.internal')
    ? { host: 'gw.example', port: 7000 + (port % 100) }
    : undefined;

const targets: FuzzTarget[] = [
  {
    name: 'resp-reply',
    parser: 'RESP framer (resp-scanner.ts) and reply parser (resp-value.ts)',
    dictionary: RESP_TOKENS,
    run(input, split) {
      const want = frameAll([input]);
      assert.deepEqual(frameAll(split(input)), want, 'chunking changed the framing');
      const first = parseReply(input);
      if (want.ends.length > 0)
        assert.ok(first.ok && first.consumed === want.ends[0], 'parser and scanner disagree');
      else if (want.error)
        assert.ok(
          !first.ok && !first.incomplete && first.error.code === want.error,
          'parser and scanner disagree on the error',
        );
      else assert.ok(!first.ok && first.incomplete, 'parser and scanner disagree on incomplete');
    },
  },
  {
    name: 'resp-request',
    parser: 'RESP command tracker (resp-command-tracker.ts)',
    dictionary: RESP_TOKENS,
    run(input, split) {
      const t = createCommandTracker({ maxPendingEntries: 64 });
      for (const c of split(input)) t.feed(c);
      for (let k = 0; k < 8 && t.pending > 0; k++) {
        t.expect(42);
        t.replyEnded(42, 3, () => 'message', 0);
      }
      // `pending` counts commands (a run of plain ones is one entry of at most 64): not bounded itself.
      assert.ok(t.pending >= 0, `pending ${t.pending}`);
    },
  },
  {
    name: 'resp-rewrite',
    parser: 'RESP reply rewriter (resp-rewrite.ts, resp-cluster.ts) after its requests',
    weight: 2,
    dictionary: RESP_TOKENS,
    run(input, split) {
      const [requests, replies] = sides(input);
      const s = createRespRewriteSession(PUBLIC_MAP, { maxRewriteBytes: 4096 });
      for (const c of split(requests)) s.fromClient(c);
      const out = Buffer.concat([...split(replies).map(s.toClient), s.rewriter.end()]);
      const inFrames = frameAll([replies]);
      if (!inFrames.error && s.rewriter.error === undefined) {
        const outFrames = frameAll([out]);
        assert.equal(outFrames.error, undefined, 'a valid reply stream came out invalid');
        assert.equal(outFrames.ends.length, inFrames.ends.length, 'not one reply out per reply in');
      }
    },
  },
  {
    name: 'http-request-head',
    parser: 'HTTP/1.1 request head reader (http-request-head.ts)',
    dictionary: [
      '\r\n',
      '\r\n\r\n',
      '\n',
      ':',
      ' ',
      'GET ',
      'CONNECT ',
      'HTTP/1.1',
      'HTTP/1.0',
      'http://',
      'Host: ',
      'Content-Length: ',
      'Transfer-Encoding: chunked',
      'Connection: close',
      'Proxy-Authorization: Basic dTpw',
      'Upgrade: websocket',
      'Expect: 100-continue',
      '\t',
      '\0',
    ],
    run(input, split) {
      prefixConsistent(
        input,
        split,
        (b) => parseRequestHead(b, 8192),
        (r) => 'need' in r,
        headVerdict,
      );
    },
  },
  {
    name: 'http-response',
    parser: 'HTTP/1.1 response head parser and chunked decoder (http-response.ts)',
    dictionary: [
      '\r\n',
      '\r\n\r\n',
      'HTTP/1.1 200 OK',
      'HTTP/1.0 ',
      '204',
      '304',
      '101',
      'Content-Length: ',
      'Transfer-Encoding: chunked',
      'Connection: keep-alive',
      ', ',
      ';ext=1',
      '0\r\n\r\n',
      'ffffffffffff',
      '\n',
    ],
    run(input, split) {
      const method = input.length > 0 && input[input.length - 1]! % 3 === 0 ? 'HEAD' : 'GET';
      prefixConsistent(
        input,
        split,
        (b) => parseResponseHead(b, method, 8192),
        (r) => 'need' in r,
        headVerdict,
      );
      const head = parseResponseHead(input, method, 8192);
      if (!('head' in head) || head.head.body.kind !== 'chunked') return;
      const body = input.subarray(head.consumed);
      const decode = (chunks: Buffer[]) => {
        const d = new ChunkedDecoder();
        let bytes = 0;
        for (const c of chunks) {
          const r = d.push(c);
          // Data handed out before an error differs with the split; the error itself may not.
          if ('error' in r) return { bytes: -1, error: true, done: false };
          for (const x of r.data) bytes += x.length;
          if (r.done) return { bytes, error: false, done: true };
        }
        return { bytes, error: false, done: false };
      };
      assert.deepEqual(decode(split(body)), decode([body]), 'chunking changed the decoded body');
    },
  },
  {
    name: 'socks5',
    parser: 'SOCKS5 greeting and CONNECT request (socks5.ts)',
    dictionary: ['\x05', '\x01', '\x00', '\x03', '\x04', '\x02', '\xff', 'example.com', '\x01\xbb'],
    run(input, split) {
      prefixConsistent(input, split, parseGreeting, (r) => r.kind === 'more');
      const g = parseGreeting(input);
      const rest = g.kind === 'ok' ? input.subarray(g.consumed) : input;
      prefixConsistent(rest, split, parseRequest, (r) => r.kind === 'more');
      const req = parseRequest(rest);
      if (req.kind === 'ok')
        assert.ok(req.value.port >= 0 && req.value.port < 65536 && req.consumed <= rest.length);
    },
  },
  {
    name: 'memcached-discovery',
    parser: 'memcached text protocol scanner of the discovery interceptor (memcached-discovery.ts)',
    dictionary: [
      '\r\n',
      'config get cluster',
      'version',
      'VERSION 1.6.21',
      'VALUE k 0 5',
      'set k 0 0 5',
      'ms k 5',
      'VA 5',
      'END',
      '\x80',
      'get k',
      ' ',
    ],
    run(input, split) {
      const [toServer, toClient] = sides(input);
      const answer = clusterConfigReply(1, [{ host: 'gw.example', port: 11211 }]);
      const i = createDiscoveryInterceptor(() => answer);
      let out = 0;
      for (const c of split(toServer)) out += i.toServer(c).length;
      for (const c of split(toClient)) out += i.toClient(c).length;
      // Each request becomes at most `version\r\n` longer, each reply at most the answer.
      assert.ok(out <= 2 * input.length + 64 + answer.length * (input.length / 8 + 1), `out ${out}`);
    },
  },
  {
    name: 'tls-client-hello',
    parser: 'TLS ClientHello server name reader (tls-client-hello.ts)',
    dictionary: [
      '\x16\x03\x01',
      '\x16\x03\x03',
      '\x01\x00',
      '\x00\x00',
      '\xfe\x0d',
      '\x00\x10',
      '\x40\x00',
      '\xff\xff',
      'example.com',
    ],
    run(input, split) {
      prefixConsistent(input, split, readClientHello, (r) => r.state === 'incomplete');
    },
  },
  {
    name: 'proxy-v2',
    parser: 'PROXY protocol v2 header framer (proxy-v2.ts)',
    dictionary: [
      '\r\n\r\n\x00\r\nQUIT\n',
      '\x21',
      '\x20',
      '\x11',
      '\x21',
      '\x31',
      '\x00\x0c',
      '\x00\x24',
      '\x04',
      '\x03',
      '\x20',
      '\xff\xff',
    ],
    run(input, split) {
      prefixConsistent(
        input,
        split,
        (b) => parseProxyV2(b),
        (r) => r.state === 'incomplete',
      );
    },
  },
  {
    name: 'conntrack-events',
    parser: 'conntrack -E event lines and byte counts (conntrack-events.ts)',
    dictionary: [
      '[NEW]',
      '[UPDATE]',
      '[DESTROY]',
      ' tcp      6 ',
      'src=',
      'dst=',
      'sport=',
      'dport=',
      'id=',
      'mark=',
      'bytes=',
      'packets=',
      '[ASSURED]',
      '[UNREPLIED]',
      '\n',
      '\t',
    ],
    run(input) {
      for (const line of input.toString('latin1').split('\n')) {
        const e = parseConntrackEvent(line);
        if (e) assert.ok(e.sport > 0 && e.sport < 65536 && /^\d+$/.test(e.id));
        parseConntrackBytes(line);
      }
    },
  },
  {
    name: 'cluster-nodes',
    parser: 'CLUSTER NODES text (cluster/topology.ts)',
    dictionary: [
      '\n',
      ' ',
      'master',
      'slave',
      'myself,',
      'fail',
      'connected',
      '0-16383',
      '[5-<-abc]',
      '@16379',
      ':6379',
      '-',
    ],
    run(input) {
      const t = parseClusterNodes(input.toString('utf8'), '10.0.0.1');
      for (const n of t.nodes) assert.ok(n.port > 0 && n.port < 65536 && n.host !== '');
    },
  },
  {
    name: 'config-yaml',
    parser: 'config file: YAML and schema (config/load.ts)',
    dictionary: [
      '\n',
      '  ',
      ': ',
      '- ',
      '{',
      '}',
      '[',
      ']',
      '&a ',
      '*a',
      '<<: *a',
      '!!binary ',
      '"',
      "'",
      'listen: ',
      'securityGroups:',
      'portForwards:',
      'egressProxies:',
      'accessEndpoints:',
      '0.0.0.0/0',
      'sg:',
      '6379',
      '1-65535',
      '30s',
      '---\n',
      '...\n',
      '%YAML 1.2\n',
      '#',
    ],
    weight: 25,
    expected: (err) => isGatehouseError(err) && err.code === 'GH_ERR_CONFIG_INVALID',
    run(input) {
      parseConfig(input.toString('utf8'), 'fuzz.yaml', path.join(os.tmpdir(), 'gatehouse-fuzz-absent'));
    },
  },
  {
    name: 'allowlist',
    parser: 'egress allowlist file (policy/allowlist.ts)',
    weight: 3,
    dictionary: [
      '\n',
      '\r\n',
      '.',
      '#',
      '*',
      'example.com',
      '.example.com',
      '10.0.0.1',
      '[::1]',
      'xn--',
      'ü',
      ' ',
    ],
    run(input) {
      const list = parseAllowlist(input.toString('utf8'), 'allowlist.txt');
      assert.ok(list.entries.length <= input.length);
    },
  },
  {
    name: 'htpasswd',
    parser: 'htpasswd file (auth/htpasswd.ts)',
    dictionary: ['\n', ':', '$2y$05$', '$apr1$', '{SHA}', '#', '='],
    run(input) {
      parseHtpasswd(input.toString('utf8'), 'users');
    },
  },
  {
    name: 'easyrsa-index',
    parser: 'easy-rsa index.txt (pki/ca-index-format.ts)',
    dictionary: [
      '\t',
      '\n',
      'V',
      'R',
      'E',
      'Z',
      ',keyCompromise',
      ',keyTime,',
      '20261120000000Z',
      '290227103238Z',
      'unknown',
      '/CN=',
    ],
    run(input) {
      parseIndex(input.toString('utf8'));
    },
  },
  {
    name: 'crl',
    parser: 'CRL, PEM or DER (pki/crl.ts over @peculiar/x509)',
    weight: 3,
    dictionary: [
      '-----BEGIN X509 CRL-----\n',
      '-----END X509 CRL-----\n',
      '\x30\x82',
      '\x30\x81\xff',
      '\x02\x01\x01',
      '\x06\x03\x55\x1d\x14',
      '\x17\x0d',
      '\x18\x0f',
      '\xa0',
      '\x00',
    ],
    // parseCrl throws for what is not a CRL; every caller turns any such throw into
    // GH_ERR_ACCESS_CRL (trust.ts) or keeps the last good CRL. A stack overflow or a
    // non-Error would not be caught that way.
    expected: (err) => err instanceof Error && !/call stack/i.test(err.message),
    run(input) {
      const crl = parseCrl(
        input.subarray(0, 11).toString('latin1') === '-----BEGIN ' ? input.toString('latin1') : input,
      );
      crlNumberOf(crl);
      for (const e of crl.entries) void e.serialNumber;
      void crl.thisUpdate;
      void crl.nextUpdate;
    },
  },
];

export const TARGETS: readonly FuzzTarget[] = targets;

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedDecoder, parseResponseHead } from '../../src/protocols/http-response.js';

const b = (s: string) => Buffer.from(s, 'latin1');

test('response head: framing by length, chunked, close and none', () => {
  const cases: [string, string, string, boolean][] = [
    ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', 'GET', 'length', true],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', 'GET', 'chunked', true],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n', 'GET', 'close', false],
    ['HTTP/1.1 200 OK\r\n\r\n', 'GET', 'close', false],
    ['HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n', 'GET', 'length', false],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n', 'GET', 'length', false],
    ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD', 'none', true],
    ['HTTP/1.1 204 No Content\r\n\r\n', 'GET', 'none', true],
    ['HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n', 'GET', 'none', true],
    ['HTTP/1.1 100 Continue\r\n\r\n', 'GET', 'none', true],
    ['HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n', 'GET', 'length', true],
  ];
  for (const [text, method, kind, keepAlive] of cases) {
    const r = parseResponseHead(b(text), method, 65536);
    assert.ok('head' in r, `${text}: ${JSON.stringify(r)}`);
    assert.equal(r.head.body.kind, kind, text);
    assert.equal(r.head.keepAlive, keepAlive, text);
    assert.equal(r.consumed, text.indexOf('\r\n\r\n') + 4);
  }
});

test('response head: ambiguous or malformed replies are refused, partial ones wait', () => {
  const bad = [
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 3,\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 0x1\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 4\r\n\r\n',
    'HTTP/1.1 200 OK\r\n folded: x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n',
    'HTTP/2 200 OK\r\n\r\n',
    'HTTP/1.1 20 OK\r\n\r\n',
    'garbage\r\n\r\n',
  ];
  for (const text of bad) assert.ok('error' in parseResponseHead(b(text), 'GET', 65536), text);
  // The same length repeated, in one header or several, is one length.
  for (const text of [
    'HTTP/1.1 200 OK\r\nContent-Length: 3,3\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3 , 3\r\n\r\n',
  ]) {
    const r = parseResponseHead(b(text), 'GET', 65536);
    assert.ok('head' in r && r.head.body.kind === 'length' && r.head.body.length === 3, text);
  }
  assert.deepEqual(parseResponseHead(b('HTTP/1.1 200 OK\r\nContent-Le'), 'GET', 65536), { need: true });
  assert.ok('error' in parseResponseHead(b('HTTP/1.1 200 OK\r\n' + 'X: y\r\n'.repeat(100)), 'GET', 64));
});

test('chunked decoder: any split of the input gives the same body and rest', () => {
  const wire = '5;ext=1\r\nhello\r\n6\r\n, worl\r\n1\r\nd\r\n0\r\nTrailer: x\r\n\r\nNEXT';
  for (let step = 1; step <= wire.length; step++) {
    const d = new ChunkedDecoder();
    let body = '';
    let rest = '';
    let done = false;
    for (let i = 0; i < wire.length; i += step) {
      const r = d.push(b(wire.slice(i, i + step)));
      assert.ok(!('error' in r), `step ${step}`);
      body += r.data.map((x) => x.toString('latin1')).join('');
      if (r.done) {
        done = true;
        rest += r.rest.toString('latin1') + wire.slice(i + step);
        break;
      }
    }
    assert.equal(body, 'hello, world', `step ${step}`);
    assert.ok(done);
    assert.equal(rest, 'NEXT', `step ${step}`);
  }
});

test('chunked decoder: bad framing is an error', () => {
  for (const w of ['zz\r\n', '5\r\nhelloXY', '5\nhello\r\n', `${'1'.repeat(5000)}\r\n`]) {
    const r = new ChunkedDecoder().push(b(w));
    assert.ok('error' in r, JSON.stringify(w));
  }
});

test('fuzz: random replies never throw, always give a value', () => {
  const alphabet = 'HTTP/1.0 2345\r\n:;abcCoentLgh-Tsfrkd,\t\x00 ';
  for (let i = 0; i < 3000; i++) {
    const s = Array.from(
      { length: Math.floor(Math.random() * 120) },
      () => alphabet[Math.floor(Math.random() * alphabet.length)],
    ).join('');
    const r = parseResponseHead(b(s), Math.random() < 0.5 ? 'GET' : 'HEAD', 256);
    assert.ok('head' in r || 'need' in r || 'error' in r);
    const c = new ChunkedDecoder().push(b(s));
    assert.ok('data' in c || 'error' in c);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GatehouseError } from '../../src/errors.js';
import { rawReply, replyForCode, replyForDecision, replyForError } from '../../src/faces/egress/wire.js';
import { formatJson, formatSquid, type AccessRecord } from '../../src/faces/egress/access-log.js';
import type { EgressDecision } from '../../src/policy/egress-decision.js';

const header = (r: { headers: readonly [string, string][] }, name: string) =>
  r.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

test('wire: each decision and error maps to one standard status and a reason header', () => {
  const cases: [EgressDecision | Error, number, string, string][] = [
    [{ allowed: false, reason: 'not_in_allowlist' }, 403, 'not_in_allowlist', 'ERR_ACCESS_DENIED 0'],
    [
      { allowed: false, reason: 'connect_port_not_allowed' },
      403,
      'connect_port_not_allowed',
      'ERR_ACCESS_DENIED 0',
    ],
    [{ allowed: false, reason: 'private_destination' }, 403, 'private_destination', 'ERR_ACCESS_DENIED 0'],
    [{ allowed: false, reason: 'auth_required' }, 407, 'auth_required', 'ERR_CACHE_ACCESS_DENIED 0'],
    [{ allowed: false, reason: 'auth_failed' }, 407, 'auth_failed', 'ERR_CACHE_ACCESS_DENIED 0'],
    [{ allowed: false, reason: 'invalid_host' }, 400, 'invalid_host', 'ERR_INVALID_URL 0'],
    [new GatehouseError('GH_ERR_DIAL_REFUSED', ['x:1']), 502, 'GH_ERR_DIAL_REFUSED', 'ERR_CONNECT_FAIL 111'],
    [new GatehouseError('GH_ERR_DIAL_TIMEOUT', ['x:1']), 504, 'GH_ERR_DIAL_TIMEOUT', 'ERR_CONNECT_FAIL 110'],
    [new GatehouseError('GH_ERR_DIAL_FAILED', ['x']), 502, 'GH_ERR_DIAL_FAILED', 'ERR_DNS_FAIL 0'],
    [new Error('anything else'), 502, 'GH_ERR_DIAL_FAILED', 'ERR_DNS_FAIL 0'],
  ];
  for (const [input, status, reason, squid] of cases) {
    const r =
      input instanceof Error
        ? replyForError(input, 'http://x/')
        : replyForDecision(input, 'http://x/', 'egress');
    assert.equal(r.status, status, reason);
    assert.equal(header(r, 'X-Gatehouse-Reason'), reason);
    assert.equal(header(r, 'X-Squid-Error'), squid);
    assert.doesNotMatch(r.body, /at .*\.ts:\d+/, 'no stack traces');
  }
  assert.equal(replyForCode('GH_ERR_REQUEST_TIMEOUT', 'GH_ERR_REQUEST_TIMEOUT', []).status, 408);
  assert.equal(replyForCode('GH_ERR_HEADERS_TOO_LARGE', 'GH_ERR_HEADERS_TOO_LARGE', []).status, 431);
  const auth = replyForDecision({ allowed: false, reason: 'auth_required' }, 'x', 'my "realm"');
  assert.equal(header(auth, 'Proxy-Authenticate'), 'Basic realm="my realm"');
});

test('wire: the denial page names the rule and escapes what the client sent', () => {
  const r = replyForDecision(
    { allowed: false, reason: 'not_in_allowlist', rule: { text: '.example.com', where: 'a.txt:3' } },
    'http://<script>/',
  );
  assert.match(r.body, /ERR_ACCESS_DENIED/);
  assert.match(r.body, /Rule: \.example\.com \(a\.txt:3\)/);
  assert.doesNotMatch(r.body, /<script>/);
  const raw = rawReply(r);
  assert.match(raw, /^HTTP\/1\.1 403 Forbidden\r\n/);
  assert.match(raw, new RegExp(`Content-Length: ${Buffer.byteLength(r.body)}\\r\\n`));
  assert.match(raw, /Connection: close\r\n\r\n<!DOCTYPE/);
});

test('access log: Squid native format and JSON', () => {
  const rec: AccessRecord = {
    start: 1_700_000_000_123,
    elapsedMs: 45,
    client: '10.0.0.7',
    action: 'TCP_DENIED',
    status: 403,
    bytes: 417,
    method: 'GET',
    url: 'http://example.com/a b',
    hierarchy: 'HIER_NONE',
    contentType: 'text/html',
    reason: 'not_in_allowlist',
  };
  assert.equal(
    formatSquid(rec),
    '1700000000.123     45 10.0.0.7 TCP_DENIED/403 417 GET http://example.com/a%20b - HIER_NONE/- text/html',
  );
  assert.equal(
    formatSquid({
      ...rec,
      user: 'alice',
      peer: '93.184.216.34',
      hierarchy: 'HIER_DIRECT',
      action: 'TCP_MISS',
      status: 200,
    })
      .split(' ')
      .slice(-3)
      .join(' '),
    'alice HIER_DIRECT/93.184.216.34 text/html',
  );
  // Milliseconds are always three digits, as Squid's %03tu.
  for (const [ms, text] of [
    [0, '1700000000.000'],
    [5, '1700000000.005'],
    [50, '1700000000.050'],
    [999, '1700000000.999'],
  ] as const)
    assert.equal(formatSquid({ ...rec, start: 1_700_000_000_000 + ms }).split(' ')[0], text);
  const j = JSON.parse(formatJson(rec)) as Record<string, unknown>;
  assert.equal(j.time, '2023-11-14T22:13:20.123Z');
  assert.equal(j.reason, 'not_in_allowlist');
});

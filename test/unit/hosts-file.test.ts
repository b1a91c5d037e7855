// /etc/hosts as glibc reads it (net/hosts-file.ts): comments, aliases, case, several addresses per
// name in file order, IPv4 preferred for dialing, lines without an IP address skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostsAddress, parseHostsFile } from '../../src/net/hosts-file.js';

const TEXT = `# a comment
127.0.0.1\tlocalhost
::1     localhost ip6-localhost   # trailing comment
10.0.0.5 Internal.Test internal alias.test.
not-an-ip broken.test
fe80::1%eth0 zoned.test
2001:db8::5 v6only.test
10.0.0.6 internal.test
`;

test('hosts file: names, aliases, case, order', () => {
  const t = parseHostsFile(TEXT);
  assert.deepEqual(t.get('localhost'), ['127.0.0.1', '::1']);
  assert.deepEqual(t.get('internal.test'), ['10.0.0.5', '10.0.0.6']);
  assert.deepEqual(t.get('internal'), ['10.0.0.5']);
  assert.deepEqual(t.get('alias.test'), ['10.0.0.5']);
  assert.equal(t.get('broken.test'), undefined);
  assert.equal(t.get('zoned.test'), undefined);
  assert.equal(t.has('#'), false);
});

test('hosts file: the address to dial prefers IPv4', () => {
  const t = parseHostsFile(TEXT);
  assert.equal(hostsAddress(t, 'localhost'), '127.0.0.1');
  assert.equal(hostsAddress(t, 'ip6-localhost'), '::1');
  assert.equal(hostsAddress(t, 'v6only.test'), '2001:db8::5');
  assert.equal(hostsAddress(t, 'missing.test'), undefined);
});

// The client library without a daemon: backoff while the endpoint is unreachable, plain words for
// refusals, local checks of the profile's certificate, and argument parsing.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { connect, explainRefusal, parseForward } from '../../src/access-client/connect.js';
import { parseProfile, PROFILE_KIND, type ClientProfile } from '../../src/access-client/profile.js';
import { RefusedError, TunnelClient } from '../../src/access-client/tunnel.js';
import { mintPki } from '../helpers/access-pki.js';
import { freePort } from '../helpers/procs.js';
import { tempDir } from '../helpers/temp.js';

const pki = await mintPki(['IP:127.0.0.1'], tempDir({ after }, 'gh-access-client-unit-'));
const alice = await pki.client('alice', ['developers']);
const old = await pki.expiredClient('old', ['developers']);

function profile(c: { cert: string; key: string }, address: string): ClientProfile {
  return {
    kind: PROFILE_KIND,
    version: 1,
    endpoint: 'dev',
    address,
    commonName: 'alice',
    groups: ['developers'],
    targets: [],
    directListeners: [],
    ca: fs.readFileSync(pki.ca, 'utf8'),
    cert: fs.readFileSync(c.cert, 'utf8'),
    key: fs.readFileSync(c.key, 'utf8'),
  };
}

test('the tunnel retries an unreachable endpoint with growing delays', async () => {
  const port = await freePort();
  const t = new TunnelClient(profile(alice, `127.0.0.1:${port}`));
  const delays: number[] = [];
  const done = new Promise<void>((resolve) =>
    t.on('retry', (d) => {
      delays.push(d);
      if (delays.length === 3) resolve();
    }),
  );
  void t.sessionReady().catch(() => {});
  await done;
  t.close();
  assert.deepEqual(delays, [250, 500, 1000]);
});

test('an expired certificate is said plainly before dialing', async () => {
  await assert.rejects(
    connect(profile(old, '127.0.0.1:1'), {
      forwards: [],
      bind: '127.0.0.1',
      say: () => {},
      onFatal: () => {},
    }),
    (err: { code: string; message: string }) => {
      assert.equal(err.code, 'GH_ERR_ACCESS_REFUSED');
      assert.match(err.message, /certificate of alice expired on/);
      return true;
    },
  );
});

test('refusals in plain words', () => {
  const r = (reason: string, status = 403, message = 'm') =>
    new RefusedError('10.0.1.5:6379', { status, reason, message });
  assert.equal(
    explainRefusal('t', r('revoked')),
    'the endpoint refused the connection: your client certificate is revoked',
  );
  assert.equal(
    explainRefusal('t', r('expired')),
    'the endpoint refused the connection: your client certificate has expired',
  );
  assert.match(
    explainRefusal('10.0.1.5:6379', r('not_in_authorized_group')),
    /^not authorized for 10\.0\.1\.5:6379/,
  );
  assert.equal(
    explainRefusal('t', r('GH_ERR_DIAL_REFUSED', 502, 'target t refused')),
    't: 502 target t refused',
  );
});

test('--forward parsing', () => {
  assert.deepEqual(parseForward('6379:10.0.1.231:6379'), { localPort: 6379, target: '10.0.1.231:6379' });
  assert.deepEqual(parseForward('0:[2001:db8::1]:6379'), { localPort: 0, target: '[2001:db8::1]:6379' });
  for (const bad of ['6379', '6379:10.0.1.231', 'x:10.0.1.231:6379', '70000:h:1', '1:h:0'])
    assert.throws(() => parseForward(bad), { code: 'GH_ERR_USAGE' }, bad);
});

test('profiles: a bad file is refused with what is wrong', () => {
  const bad = (text: string, why: RegExp) =>
    assert.throws(
      () => parseProfile(text, 'p.profile'),
      (err: { code: string; message: string }) => {
        assert.equal(err.code, 'GH_ERR_ACCESS_PROFILE');
        assert.match(err.message, why);
        return true;
      },
    );
  bad('kind: other\n', /is not a gatehouse-client-profile/);
  bad(`kind: ${PROFILE_KIND}\nversion: 2\n`, /version 2/);
  bad(`kind: ${PROFILE_KIND}\nversion: 1\nendpoint: dev\n`, /has no address/);
  bad('{ unclosed', /is not YAML/);
});

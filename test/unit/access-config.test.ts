import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fromCwd } from '../../src/config/check.js';
import { parseConfig } from '../../src/config/load.js';
import { mintPki } from '../helpers/access-pki.js';
import { tempDir } from '../helpers/temp.js';

const CONFIG = `pki: ./pki
accessEndpoints:
  dev:
    listen: "8443"
    serverCertificate: server
    authorizationRules:
      - { target: "10.0.1.0/24", ports: "6379", groups: [developers] }
    directListeners:
      - { listen: "6390", target: "10.0.1.231:6379" }
`;

test('an endpoint config with its PKI loads, with defaults', async (t) => {
  const pki = await mintPki(['IP:127.0.0.1'], tempDir(t, 'gh-access-config-'));
  const base = path.dirname(pki.dir);
  const ep = parseConfig(CONFIG, 'a.yaml', base).config.accessEndpoints.dev!;
  assert.equal(ep.listen.host, '0.0.0.0');
  assert.equal(ep.connectionLog, true);
  assert.equal(ep.sessionTimeout, 12 * 3600_000);
  assert.deepEqual(ep.securityGroups, []);
});

test('a PKI that lost its ca.crt is a config problem naming the file and the fix', async (t) => {
  const pki = await mintPki(['IP:127.0.0.1'], tempDir(t, 'gh-access-config-'));
  fs.rmSync(pki.ca);
  assert.throws(
    () => parseConfig(CONFIG, 'a.yaml', path.dirname(pki.dir)),
    (err: { details: string[] }) => {
      assert.match(
        err.details.join('\n'),
        // The hint's path is as the user would type it from the current directory (here the
        // temp dir lies outside it, so the path is absolute).
        new RegExp(
          `^a\\.yaml:1: access endpoints \\(dev\\) verify clients against .*ca\\.crt, which does not exist; run \`gatehouse pki --pki ${fromCwd(pki.dir).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} build-ca\``,
          'm',
        ),
      );
      return true;
    },
  );
});

test('two listeners of an endpoint on one port are refused', async (t) => {
  const pki = await mintPki(['IP:127.0.0.1'], tempDir(t, 'gh-access-config-'));
  const bad = CONFIG.replace('listen: "6390"', 'listen: "8443"');
  assert.throws(
    () => parseConfig(bad, 'a.yaml', path.dirname(pki.dir)),
    (err: { details: string[] }) => {
      assert.match(err.details.join('\n'), /^a\.yaml:9: .*already a listener of accessEndpoints\.dev/m);
      return true;
    },
  );
});

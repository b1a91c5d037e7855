import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { adminTarget } from '../../src/admin/api-client.js';
import { humanBytes, humanDuration, table } from '../../src/admin/format.js';
import { tempDir } from '../helpers/temp.js';

test('tables pad every column but the last', () => {
  assert.equal(
    table(
      ['ID', 'FACE', 'X'],
      [
        ['a', 'portForward', 'y'],
        ['bbbb', 'e', ''],
      ],
    ),
    'ID    FACE         X\na     portForward  y\nbbbb  e\n',
  );
  assert.equal(table(['ID'], []), 'ID\n(none)\n');
  assert.equal(humanBytes(2048), '2.0 KiB');
  assert.equal(humanDuration(3_725_000), '1h02m');
  assert.equal(humanDuration(65_000), '1m05s');
});

test('the admin URL and token come from flags, then the environment, then the config and its token file', (t) => {
  const dir = tempDir(t, 'gh-admin-cli-');
  const config = path.join(dir, 'gatehouse.yaml');
  fs.writeFileSync(config, 'admin:\n  listen: "0.0.0.0:9555"\n');
  fs.writeFileSync(path.join(dir, 'gatehouse-admin.token'), 'from-the-file-0123456789\n');
  assert.deepEqual(adminTarget({ config }, {}), {
    url: 'http://127.0.0.1:9555',
    token: 'from-the-file-0123456789',
    via: `admin.listen of ${config}`,
    config,
  });
  assert.deepEqual(adminTarget({ config }, { GATEHOUSE_ADMIN_TOKEN: 'env-token' }).token, 'env-token');
  assert.deepEqual(adminTarget({ config, admin: '10.0.0.1:9480/', token: 't' }, {}), {
    url: 'http://10.0.0.1:9480',
    token: 't',
    via: '--admin',
    config,
  });
  assert.equal(adminTarget({}, { GATEHOUSE_ADMIN_URL: 'http://[::1]:9480' }).via, 'GATEHOUSE_ADMIN_URL');
});

test('with no config, no ./gatehouse.yaml and no URL, the admin verbs say so instead of guessing', (t) => {
  const dir = tempDir(t, 'gh-admin-none-');
  const cwd = process.cwd();
  process.chdir(dir);
  t.after(() => process.chdir(cwd));
  assert.throws(
    () => adminTarget({}, {}),
    (err: { code?: string; message?: string }) =>
      err.code === 'GH_ERR_ADMIN_TARGET' && /no -c FILE/.test(err.message ?? ''),
  );
});

// The admin listener follows the config: a reload that changes admin.listen moves it, a new token
// ends console logins made with the old one, and admin.enabled: false stops it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGatehouse } from '../helpers/gatehouse.js';
import { freePort, portIsFree } from '../helpers/procs.js';

let fwd = 0;
const config = (admin: number, token: string, enabled = true) => `
portForwards:
  nat:
    address: 127.0.0.1
    forwards:
      - { listen: "${fwd}", target: "127.0.0.1:9" }
admin:
  listen: "127.0.0.1:${admin}"
  token: "${token}"
  enabled: ${enabled}
`;

test('reload moves the admin listener, rotates its token, and can turn it off', async () => {
  const [a, b] = [await freePort(), await freePort()];
  fwd = await freePort();
  const oldToken = 'old-token-0123456789';
  const newToken = 'new-token-0123456789';
  const gh = await startGatehouse(config(a, oldToken));
  try {
    await gh.waitForLog((l) => l.msg === 'admin API listening' && l.admin === `127.0.0.1:${a}`);
    const login = await fetch(`http://127.0.0.1:${a}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: oldToken }),
    });
    assert.equal(login.status, 200);
    const cookie = login.headers.get('set-cookie')!;
    assert.match(cookie, /HttpOnly; SameSite=Strict/);
    const sid = cookie.split(';')[0]!;
    assert.equal(
      (await fetch(`http://127.0.0.1:${a}/api/sessions`, { headers: { cookie: sid } })).status,
      200,
    );

    // Same address, new token: the old token and its console login stop working.
    gh.writeConfig(config(a, newToken));
    await gh.waitForLog((l) => l.msg === 'config reloaded');
    assert.equal(
      (await fetch(`http://127.0.0.1:${a}/api/sessions`, { headers: { cookie: sid } })).status,
      401,
    );
    const auth = (t: string) => ({ headers: { authorization: `Bearer ${t}` } });
    assert.equal((await fetch(`http://127.0.0.1:${a}/api/status`, auth(oldToken))).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${a}/api/status`, auth(newToken))).status, 200);

    // New address: the listener moves.
    gh.writeConfig(config(b, newToken));
    await gh.waitForLog((l) => l.msg === 'admin API listening' && l.admin === `127.0.0.1:${b}`);
    assert.equal((await fetch(`http://127.0.0.1:${b}/api/status`, auth(newToken))).status, 200);
    assert.equal(await portIsFree(a), true, 'the old admin address is released');

    gh.writeConfig(config(b, newToken, false));
    await gh.waitForLog(
      (l) => l.msg === 'config reloaded' && gh.logs.filter((x) => x.msg === 'config reloaded').length >= 3,
    );
    assert.equal(await portIsFree(b), true, 'admin.enabled: false stops the listener');
  } finally {
    await gh.stop();
  }
});

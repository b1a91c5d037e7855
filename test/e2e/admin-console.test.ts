// The web console in real headless Chromium (Debian's, driven by playwright-core): log in with the
// token, watch a live session appear without a reload, terminate it and see the client disconnected,
// explain, filter the log, revoke a certificate. Screenshots of each page go to test-artifacts/console/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startAdminLab, type AdminLab } from '../helpers/admin-lab.js';
import { mintPki } from '../helpers/access-pki.js';
import { ROOT } from '../helpers/gatehouse.js';
import { freePort, startRedis, type Server } from '../helpers/procs.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'test-artifacts', 'console');
const haveChromium = fs.existsSync(CHROMIUM);

let lab: AdminLab;
let redis: Server;
let browser: BrowserContext;
let page: Page;
let dir: string | undefined;
let profile: string | undefined;
const ports = { admin: 0, open: 0, locked: 0, proxy: 0 };

before(async () => {
  if (!haveChromium) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  redis = await startRedis();
  for (const k of ['admin', 'open', 'locked', 'proxy'] as const) ports[k] = await freePort();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-admin-console-'));
  const pki = await mintPki(['IP:127.0.0.1'], dir);
  await pki.client('alice', ['developers']);
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '.example.com\n');
  lab = await startAdminLab(
    `
securityGroups:
  office:
    ingress:
      - { protocol: tcp, ports: "all", source: "198.51.100.0/24", description: "office network" }
portForwards:
  nat:
    address: 127.0.0.1
    forwards:
      - { listen: "${ports.open}", target: "127.0.0.1:${redis.port}" }
  locked:
    address: 127.0.0.1
    securityGroups: [office]
    forwards:
      - { listen: "${ports.locked}", target: "127.0.0.1:${redis.port}" }
egressProxies:
  out:
    listen: "127.0.0.1:${ports.proxy}"
    allowlist: ./allowlist.txt
admin:
  listen: "127.0.0.1:${ports.admin}"
`,
    { dir },
  );
  // Some history for the log and egress pages: a refused connection and a denied egress request.
  const refused = net.connect({ host: '127.0.0.1', port: ports.locked });
  refused.on('error', () => {});
  await new Promise((r) => refused.on('close', r));
  await new Promise<void>((resolve) => {
    const req = http.request({
      host: '127.0.0.1',
      port: ports.proxy,
      path: 'http://blocked.test/',
      headers: { host: 'blocked.test' },
    });
    req.on('response', (res) => res.resume().on('end', resolve));
    req.on('error', () => resolve());
    req.end();
  });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
  });
  page = browser.pages()[0] ?? (await browser.newPage());
});

after(async () => {
  await browser?.close();
  await lab?.gh.stop();
  await redis?.stop();
  for (const d of [dir, profile]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

test(
  'log in: a wrong token is refused, the right one opens the overview',
  { skip: !haveChromium && 'no /usr/bin/chromium' },
  async () => {
    await page.goto(lab.url);
    await page.locator('#login').waitFor();
    await shot('login');
    await page.fill('#token', 'not-the-token-at-all');
    await page.click('#login-form button');
    await page.locator('#flash.error').waitFor();
    await page.fill('#token', lab.token);
    await page.click('#login-form button');
    await page.locator('#nav').waitFor();
    await page.locator('[data-testid=live-sessions]').waitFor();
    assert.match(await page.locator('#view').innerText(), /portForwards\.nat\.forwards\[0\]/);
    await shot('overview');
  },
);

test(
  'a live session appears without a reload; terminate closes it and its client',
  { skip: !haveChromium && 'no /usr/bin/chromium' },
  async () => {
    await page.click('#nav a[data-view=sessions]');
    await page.locator('[data-testid=stream-state].on').waitFor();
    assert.equal(await page.locator('tr[data-session]').count(), 0);
    const client = net.connect({ host: '127.0.0.1', port: ports.open });
    await once(client, 'connect');
    client.write('PING\r\n');
    await once(client, 'data');
    const closed = new Promise((r) => client.on('close', r));
    const row = page.locator('tr[data-session]');
    await row.waitFor({ timeout: 5000 });
    assert.match(await row.innerText(), new RegExp(`127\\.0\\.0\\.1:${client.localPort}`));
    await shot('sessions');
    await row.locator('button[data-terminate]').click();
    await row.waitFor({ state: 'detached', timeout: 5000 });
    await closed;
    assert.equal(client.destroyed, true);
    assert.equal(await page.locator('[data-testid=session-count]').innerText(), '0');
    await shot('sessions-terminated');
  },
);

test(
  'policy: groups with FILE:LINE, and the explain form',
  { skip: !haveChromium && 'no /usr/bin/chromium' },
  async () => {
    await page.click('#nav a[data-view=policy]');
    await page.locator('input[name=from]').waitFor();
    assert.match(await page.locator('#view').innerText(), /office network/);
    await page.fill('input[name=from]', '198.51.100.9');
    await page.fill('input[name=to]', `127.0.0.1:${ports.locked}`);
    await page.click('form.inline button');
    await page.locator('[data-testid=explain-result] .allowed').waitFor();
    assert.match(
      await page.locator('[data-testid=explain-result]').innerText(),
      /allowed by group office ingress rule 1/,
    );
    await shot('policy');
  },
);

test('connection log with filters', { skip: !haveChromium && 'no /usr/bin/chromium' }, async () => {
  await page.click('#nav a[data-view=log]');
  await page.locator('[data-testid=audit]').waitFor();
  await page.selectOption('select[name=decision]', 'denied');
  await page.selectOption('select[name=face]', 'portForward');
  await page.click('form.filters button');
  await page.waitForFunction(() => location.hash.includes('decision=denied'));
  await page.locator('[data-testid=audit] tbody tr .denied').first().waitFor();
  const rows = await page.locator('[data-testid=audit] tbody tr').allInnerTexts();
  assert.ok(rows.length >= 1);
  for (const r of rows) assert.match(r, /portForward/);
  await shot('log');
  await page.goto(`${lab.url}/#log?since=1h&limit=1`);
  await page.locator('[data-testid=older]').click();
  await page.waitForFunction(() => location.hash.includes('before='));
  await page.locator('[data-testid=audit] tbody tr').first().waitFor();
});

test(
  'egress: allowed and denied with top domains',
  { skip: !haveChromium && 'no /usr/bin/chromium' },
  async () => {
    await page.click('#nav a[data-view=egress]');
    await page.locator('[data-testid=egress-denied]').waitFor();
    assert.match(await page.locator('#view').innerText(), /blocked\.test/);
    await shot('egress');
    await page.click('#reload');
    await page.locator('#flash:has-text("Config reloaded")').waitFor();
  },
);

test('certificates: revoke from the console', { skip: !haveChromium && 'no /usr/bin/chromium' }, async () => {
  await page.click('#nav a[data-view=certificates]');
  const alice = page.locator('tr[data-cert=alice]');
  await alice.waitFor();
  await shot('certificates');
  page.once('dialog', (d) => void d.accept());
  await alice.locator('button[data-revoke]').click();
  await page.locator('#flash:has-text("Revoked alice")').waitFor();
  assert.match(await page.locator('tr[data-cert=alice]').innerText(), /revoked/);
  await shot('certificates-revoked');
});

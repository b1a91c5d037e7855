// The web console in real headless Chromium (Debian's, driven by playwright-core): log in with the
// token, watch a live session appear without a reload, terminate it and see the client disconnected,
// explain, filter the log, revoke a certificate, and the traffic charts of known traffic. Every page
// is opened at 1400 and 1024 px wide and checked for what a new user met (a literal "null", a page
// wider than the window, duplicate certificate rows, Revoke on the CA or the server's certificate,
// a count that disagrees with its table); screenshots of each go to test-artifacts/console/.
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
const skip = !haveChromium && 'no /usr/bin/chromium';
const WIDTHS = [1400, 1024];

let lab: AdminLab;
let redis: Server;
let origin: http.Server;
let browser: BrowserContext;
let page: Page;
let dir: string | undefined;
let profile: string | undefined;
const ports = { admin: 0, open: 0, locked: 0, proxy: 0, origin: 0 };
/** The traffic made before the tests, as the charts must count it. */
const made = { forwards: 3, refused: 2, egressAllowed: 2, egressDenied: 1 };

/** A client through the `nat` forward: PING, PONG, close; resolves once its session's end is audited. */
async function pingThroughForward(): Promise<void> {
  const s = net.connect({ host: '127.0.0.1', port: ports.open });
  await once(s, 'connect');
  const port = s.localPort;
  s.write('PING\r\n');
  const [data] = (await once(s, 'data')) as [Buffer];
  assert.equal(data.toString(), '+PONG\r\n');
  s.end();
  await lab.gh.waitForAudit((l) => l.event === 'closed' && l.source === `127.0.0.1:${port}`);
}

/** A connection the `locked` group refuses (reset at or after the handshake); resolves once audited. */
async function refusedByGroup(): Promise<void> {
  const denied = (l: Record<string, unknown>) => l.event === 'denied' && l.face === 'portForward';
  const seen = lab.gh.audit.filter(denied).length;
  const s = net.connect({ host: '127.0.0.1', port: ports.locked });
  s.on('error', () => {}); // the reset
  await new Promise((r) => s.on('close', r));
  await lab.gh.waitForAudit((l) => denied(l) && lab.gh.audit.filter(denied).length > seen);
}

function proxyGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: ports.proxy,
      path: url,
      headers: { host: new URL(url).host },
    });
    req.on('response', (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0)));
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  if (!haveChromium) return;
  fs.rmSync(SHOTS, { recursive: true, force: true });
  fs.mkdirSync(SHOTS, { recursive: true });
  redis = await startRedis();
  origin = http.createServer((_req, res) => res.end('origin\n'));
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  ports.origin = (origin.address() as net.AddressInfo).port;
  for (const k of ['admin', 'open', 'locked', 'proxy'] as const) ports[k] = await freePort();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-admin-console-'));
  const pki = await mintPki(['IP:127.0.0.1'], dir);
  await pki.client('alice', ['developers']);
  // bob twice in index.txt (revoked, then issued again): the console shows one row for him.
  await pki.client('bob', ['developers']);
  await pki.revoke('bob');
  await pki.client('bob', ['developers']);
  fs.writeFileSync(path.join(dir, 'allowlist.txt'), '.example.com\n127.0.0.1\n');
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
    unsafeAllowPrivateDestinations: ["127.0.0.0/8"]
admin:
  listen: "127.0.0.1:${ports.admin}"
`,
    { dir },
  );
  // Known traffic for the charts, the log and the egress page, each event audited before the tests.
  for (let i = 0; i < made.forwards; i++) await pingThroughForward();
  for (let i = 0; i < made.refused; i++) await refusedByGroup();
  for (let i = 0; i < made.egressAllowed; i++)
    assert.equal(await proxyGet(`http://127.0.0.1:${ports.origin}/${i}`), 200);
  assert.equal(await proxyGet('http://blocked.test/'), 403);
  await lab.gh.waitForAudit((l) => l.face === 'egressProxy' && l.event === 'denied');
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
    viewport: { width: WIDTHS[0]!, height: 900 },
  });
  page = browser.pages()[0] ?? (await browser.newPage());
});

after(async () => {
  await browser?.close();
  await lab?.gh.stop();
  await redis?.stop();
  origin?.close();
  for (const d of [dir, profile]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

/** Go to a route (#log?since=1h) and wait until its page has drawn. */
async function visit(hash: string): Promise<void> {
  await page.evaluate((h) => {
    location.hash = h;
  }, hash);
  await page.waitForFunction((h) => {
    const v = document.getElementById('view')!;
    return v.dataset.route === h && v.dataset.ready === 'true';
  }, `#${hash}`);
}

/**
 * At each width: no literal null/undefined/NaN on the page, nothing wider than the window, and a
 * screenshot NAME-WIDTH.png. Leaves the viewport at the first width.
 */
async function checkWidths(name: string): Promise<void> {
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    const text = await page.locator('body').innerText();
    assert.doesNotMatch(text, /\b(null|undefined|NaN)\b/, `${name} at ${width} px shows: ${text}`);
    const { scroll, inner } = await page.evaluate(() => ({
      scroll: document.scrollingElement!.scrollWidth,
      inner: window.innerWidth,
    }));
    assert.ok(scroll <= inner, `${name} at ${width} px is ${scroll} px wide, wider than the window`);
    await shot(`${name}-${width}`);
  }
  await page.setViewportSize({ width: WIDTHS[0]!, height: 900 });
}

/**
 * What GET /api/audit/timeline says of the window a chart drew (its first bucket and step, read from
 * the figure), so its buckets are the chart's buckets.
 */
async function timelineOf(chart: string, face?: string) {
  const fig = page.locator(`figure[data-chart=${chart}]`);
  const first = await fig.getAttribute('data-first');
  const step = await fig.getAttribute('data-step-ms');
  const n = Number(await fig.getAttribute('data-buckets'));
  const q = new URLSearchParams({ since: first!, step: `${step}ms`, ...(face ? { face } : {}) });
  const r = await lab.api('GET', `/api/audit/timeline?${q.toString()}`);
  assert.equal(r.status, 200);
  const t = r.body as {
    buckets: string[];
    faces: { face: string; allowed: number[]; denied: number[] }[];
    listeners: { listener: string; bytesFromClient: number[]; bytesToClient: number[] }[];
  };
  assert.equal(t.buckets[0], first);
  assert.ok(t.buckets.length >= n, 'the API ran to now, a moment after the page');
  return { ...t, buckets: t.buckets.slice(0, n) };
}

/** One chart row as drawn: its series, totals, and the bars ([bucket, value]) above and below. */
async function chartRows(chart: string) {
  // No named functions inside: the callback runs in the page, without tsx's helpers.
  return page.locator(`figure[data-chart=${chart}] .chart-row`).evaluateAll((rows) =>
    rows.map((r) => {
      const [upBars, downBars] = ['up', 'down'].map((dir) =>
        [...r.querySelectorAll(`rect.bar.${dir}`)].map((b) => [
          Number(b.getAttribute('data-bucket')),
          Number(b.getAttribute('data-value')),
        ]),
      );
      return {
        series: r.getAttribute('data-series'),
        up: Number(r.getAttribute('data-up-total')),
        down: Number(r.getAttribute('data-down-total')),
        upBars: upBars!,
        downBars: downBars!,
      };
    }),
  );
}

/** The non-zero buckets of a series as [index, value]: the bars a chart must draw. */
const nonZero = (values: number[]) => values.flatMap((v, i) => (v ? [[i, v]] : []));

test('the favicon is served and the page names it', { skip }, async () => {
  for (const p of ['/favicon.svg', '/favicon.ico']) {
    const res = await fetch(`${lab.url}${p}`);
    assert.equal(res.status, 200, p);
    assert.equal(res.headers.get('content-type'), 'image/svg+xml');
    assert.match(await res.text(), /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  }
  // The modules of the console are served; nothing else under its directory is.
  assert.equal((await fetch(`${lab.url}/pages/overview.js`)).status, 200);
  assert.equal((await fetch(`${lab.url}/../server.ts`)).status, 404);
  assert.equal((await fetch(`${lab.url}/pages/nothing.js`)).status, 404);
});

test('log in: a wrong token is refused, the right one opens the overview', { skip }, async () => {
  await page.goto(lab.url);
  await page.locator('#login').waitFor();
  const icon = await page.locator('link[rel=icon]').evaluate((l) => (l as HTMLLinkElement).href);
  assert.equal(icon, `${lab.url}/favicon.svg`);
  await checkWidths('login');
  await page.fill('#token', 'not-the-token-at-all');
  await page.click('#login-form button');
  await page.locator('#flash.error').waitFor();
  await page.fill('#token', lab.token);
  await page.click('#login-form button');
  await page.locator('#nav').waitFor();
  await page.waitForFunction(() => document.getElementById('view')!.dataset.ready === 'true');
  assert.match(await page.locator('#view').innerText(), /portForwards\.nat\.forwards\[0\]/);
});

test('overview: counts agree with their tables; charts of the known traffic', { skip }, async () => {
  await visit('overview?since=1h');
  const listeners = await page.locator('[data-testid=listeners] tbody tr').count();
  assert.equal(listeners, 4, 'the admin API, nat, locked and the egress proxy');
  assert.equal(await page.locator('[data-testid=listener-count] .big').innerText(), String(listeners));
  // The decisions table and the connections chart count the same events.
  const decided = await page
    .locator('[data-testid=decisions] tbody tr[data-face]')
    .evaluateAll((rows) =>
      Object.fromEntries(
        rows.map((r) => [
          r.getAttribute('data-face'),
          [Number(r.children[1]!.textContent), Number(r.children[2]!.textContent)],
        ]),
      ),
    );
  assert.deepEqual(decided, {
    egressProxy: [made.egressAllowed, made.egressDenied],
    portForward: [made.forwards, made.refused],
  });
  const t = await timelineOf('connections');
  const connections = await chartRows('connections');
  assert.deepEqual(
    connections.map((r) => [r.series, r.up, r.down]),
    [
      ['egressProxy', made.egressAllowed, made.egressDenied],
      ['portForward', made.forwards, made.refused],
    ],
  );
  for (const [i, row] of connections.entries()) {
    assert.deepEqual(row.upBars, nonZero(t.faces[i]!.allowed), `${row.series} allowed bars`);
    assert.deepEqual(row.downBars, nonZero(t.faces[i]!.denied), `${row.series} denied bars`);
  }
  const viewBox = await page
    .locator('figure[data-chart=connections] svg.bars')
    .first()
    .getAttribute('viewBox');
  assert.equal(viewBox, `0 0 ${t.buckets.length * 10} 100`, 'one bar slot per bucket');
  // Bytes per listener: the forward's three sessions sent PING (6 bytes) and got +PONG (7 bytes).
  const bytes = await chartRows('bytes');
  const nat = bytes.find((r) => r.series === `nat@127.0.0.1:${ports.open}`);
  assert.ok(nat, JSON.stringify(bytes));
  assert.equal(nat.up, 6 * made.forwards);
  assert.equal(nat.down, 7 * made.forwards);
  assert.deepEqual(
    bytes.map((r) => r.series),
    t.listeners.map((l) => l.listener),
  );
  assert.equal(bytes.length, 2, 'the forward and the egress proxy');
  await checkWidths('overview');
  // Another window: the hash and the chart's step follow.
  await page.click('nav.windows a[data-window="15m"]');
  await page.waitForFunction(() => document.getElementById('view')!.dataset.route === '#overview?since=15m');
  await page.waitForFunction(() => document.getElementById('view')!.dataset.ready === 'true');
  assert.match(await page.locator('figure[data-chart=connections] figcaption').innerText(), /per 30s/);
  assert.equal((await chartRows('connections')).length, 2);
});

test('a live session appears without a reload; terminate closes it and its client', { skip }, async () => {
  await visit('sessions');
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
  await checkWidths('sessions');
  await row.locator('button[data-terminate]').click();
  await row.waitFor({ state: 'detached', timeout: 5000 });
  await closed;
  assert.equal(client.destroyed, true);
  assert.equal(await page.locator('[data-testid=session-count]').innerText(), '0');
  await shot('sessions-terminated');
});

test('policy: groups with FILE:LINE, and the explain form', { skip }, async () => {
  await visit('policy');
  assert.match(await page.locator('#view').innerText(), /office network/);
  await page.fill('input[name=from]', '198.51.100.9');
  await page.fill('input[name=to]', `127.0.0.1:${ports.locked}`);
  await page.click('form.inline button');
  await page.locator('[data-testid=explain-result] .allowed').waitFor();
  assert.match(
    await page.locator('[data-testid=explain-result]').innerText(),
    /allowed by group office ingress rule 1/,
  );
  await checkWidths('policy');
});

test('connection log with filters; times on one line, no "null" under the table', { skip }, async () => {
  await visit('log');
  await page.selectOption('select[name=decision]', 'denied');
  await page.selectOption('select[name=face]', 'portForward');
  await page.click('form.filters button');
  await page.waitForFunction(() => {
    const v = document.getElementById('view')!;
    return v.dataset.route!.includes('decision=denied') && v.dataset.ready === 'true';
  });
  const rows = await page.locator('[data-testid=audit] tbody tr').allInnerTexts();
  assert.equal(rows.length, made.refused);
  for (const r of rows) assert.match(r, /portForward/);
  // Every event, at both widths: the page must not grow wider than the window.
  await visit('log?since=1h');
  assert.ok((await page.locator('[data-testid=audit] tbody tr').count()) >= 10);
  await checkWidths('log');
  await page.setViewportSize({ width: 1024, height: 900 });
  const lines = await page.locator('[data-testid=audit] tbody td:first-child').evaluateAll((cells) =>
    cells.map((c) => {
      const r = document.createRange();
      r.selectNodeContents(c);
      return r.getClientRects().length;
    }),
  );
  assert.ok(lines.length > 0);
  assert.deepEqual(new Set(lines), new Set([1]), 'each time on one line at 1024 px');
  await page.setViewportSize({ width: WIDTHS[0]!, height: 900 });
  await visit('log?since=1h&limit=1');
  await page.locator('[data-testid=older]').click();
  await page.waitForFunction(() => document.getElementById('view')!.dataset.route!.includes('before='));
  await page.locator('[data-testid=audit] tbody tr').first().waitFor();
});

test('egress: allowed and denied, top domains, and the egress charts', { skip }, async () => {
  await visit('egress?since=1h');
  assert.equal(
    await page.locator('[data-testid=egress-allowed] .big').innerText(),
    String(made.egressAllowed),
  );
  assert.equal(await page.locator('[data-testid=egress-denied] .big').innerText(), String(made.egressDenied));
  assert.match(await page.locator('#view').innerText(), /blocked\.test/);
  const t = await timelineOf('connections', 'egressProxy');
  const connections = await chartRows('connections');
  assert.deepEqual(
    connections.map((r) => [r.series, r.up, r.down]),
    [['egressProxy', made.egressAllowed, made.egressDenied]],
  );
  assert.deepEqual(connections[0]!.upBars, nonZero(t.faces[0]!.allowed));
  const bytes = await chartRows('bytes');
  assert.deepEqual(
    bytes.map((r) => r.series),
    [`out@127.0.0.1:${ports.proxy}`],
  );
  assert.ok(bytes[0]!.down > 0, 'the origin answered bytes to the clients');
  await checkWidths('egress');
  await page.click('#reload');
  await page.locator('#flash:has-text("Config reloaded")').waitFor();
});

test(
  'certificates: one row per name, no Revoke on the CA or the server; revoke a client',
  { skip },
  async () => {
    await visit('certificates');
    const names = await page
      .locator('tr[data-cert]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-cert')));
    assert.deepEqual([...names].sort(), ['alice', 'bob', 'ca', 'server']);
    assert.match(await page.locator('tr[data-cert=bob] details.earlier summary').innerText(), /1 earlier/);
    assert.equal(await page.locator('tr[data-cert=ca] button').count(), 0);
    assert.equal(await page.locator('tr[data-cert=server] button').count(), 0);
    assert.equal(await page.locator('tr[data-cert=bob] button[data-revoke]').count(), 1);
    await checkWidths('certificates');
    const alice = page.locator('tr[data-cert=alice]');
    page.once('dialog', (d) => void d.accept());
    await alice.locator('button[data-revoke]').click();
    await page.locator('#flash:has-text("Revoked alice")').waitFor();
    // The flash comes first, the table is drawn again after the list is fetched anew: wait for
    // the row to change (a timeout fails the test when it never does).
    await page.locator('tr[data-cert=alice]:has-text("revoked")').waitFor({ timeout: 5000 });
    assert.match(await page.locator('tr[data-cert=alice]').innerText(), /revoked/);
    assert.equal(await page.locator('tr[data-cert=alice]').count(), 1);
    assert.equal(await page.locator('tr[data-cert=alice] button').count(), 0);
    await shot('certificates-revoked');
  },
);

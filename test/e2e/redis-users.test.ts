// Redis users from the client certificate (`redisUsers` on direct listeners): a real redis-server
// with an ACL file (dev: read only, ops: everything, default off) behind a direct TLS listener,
// and a real Redis Cluster with the same users on every node behind a port-range listener.
// Gatehouse logs in as the user the certificate's groups map to; the client cannot become
// anyone else, whatever AUTH or HELLO it sends.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { freePort, freePortRange, run, startRedis, type Server } from '../helpers/procs.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';
import { mintPki, type ClientFiles, type TestPki } from '../helpers/access-pki.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { createRespScanner, NEED_MORE } from '../../src/protocols/resp-scanner.js';
import { encodeCommand } from '../../src/protocols/resp-user-gate.js';

const ACL = 'user default off\nuser dev on >devpass ~* +@read\nuser ops on >opspass ~* +@all\n';

/** A raw RESP client over mTLS: send a command, get its reply as text. */
async function rawClient(port: number, ca: string, who: ClientFiles) {
  const s = tls.connect({
    host: '127.0.0.1',
    port,
    ca: fs.readFileSync(ca),
    cert: fs.readFileSync(who.cert),
    key: fs.readFileSync(who.key),
  });
  await once(s, 'secureConnect');
  const scanner = createRespScanner();
  const replies: string[] = [];
  const waiting: ((r: string) => void)[] = [];
  let partial: Buffer[] = [];
  s.on('data', (chunk: Buffer) => {
    let pos = 0;
    while (pos < chunk.length) {
      const end = scanner.scan(chunk, pos);
      if (end < 0 && end !== NEED_MORE) throw new Error('bad reply stream');
      partial.push(chunk.subarray(pos, end === NEED_MORE ? chunk.length : end));
      if (end === NEED_MORE) break;
      const text = Buffer.concat(partial).toString('utf8');
      partial = [];
      const w = waiting.shift();
      if (w) w(text);
      else replies.push(text);
      pos = end;
    }
  });
  const closed = once(s, 'close');
  s.on('error', () => {});
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const r = replies.shift();
      if (r !== undefined) return resolve(r);
      waiting.push(resolve);
      void closed.then(() => reject(new Error('connection closed')));
    });
  return {
    send(...args: string[]) {
      s.write(encodeCommand(args));
      return next();
    },
    next,
    closed,
    close: () => s.destroy(),
  };
}

const cli = (port: number, ca: string, who: ClientFiles, args: string[], input?: string) =>
  run(
    'redis-cli',
    ['--tls', '--cert', who.cert, '--key', who.key, '--cacert', ca, '-p', String(port), ...args],
    input === undefined ? {} : { input },
  );

describe('a direct listener with redisUsers in front of one redis-server', () => {
  let dir: string;
  let pki: TestPki;
  let redis: Server;
  let gh: Gatehouse;
  let alice: ClientFiles; // developers
  let olga: ClientFiles; // ops
  let guest: ClientFiles; // neither
  let port: number;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-redis-users-'));
    pki = await mintPki(['IP:127.0.0.1'], dir);
    alice = await pki.client('alice', ['developers']);
    olga = await pki.client('olga', ['ops']);
    guest = await pki.client('guest', ['guests']);
    redis = await startRedis();
    // The users of an ACL file, set once the helper has seen this server answer (as default).
    for (const line of ACL.trim().split('\n').reverse())
      assert.equal(
        (
          await run('redis-cli', ['-p', String(redis.port), 'ACL', 'SETUSER', ...line.split(' ').slice(1)])
        ).stdout.trim(),
        'OK',
      );
    fs.mkdirSync(path.join(dir, 'secrets'));
    fs.writeFileSync(path.join(dir, 'secrets', 'dev'), 'devpass\n');
    fs.writeFileSync(path.join(dir, 'secrets', 'ops'), 'opspass');
    port = await freePort();
    const tunnel = await freePort();
    gh = await startGatehouse(
      `pki: ./pki
accessEndpoints:
  dev:
    listen: "127.0.0.1:${tunnel}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", allGroups: true }
    directListeners:
      - listen: "127.0.0.1:${port}"
        target: "127.0.0.1:${redis.port}"
        redisUsers:
          - { groups: [ops], user: ops, passwordFile: ./secrets/ops }
          - { groups: [developers], user: dev, passwordFile: ./secrets/dev }
admin:
  enabled: false
`,
      { dir },
    );
  });

  after(async () => {
    await gh?.stop();
    await redis?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("a developer reads but SET is NOPERM; an operator's SET succeeds", async () => {
    const ops = await cli(port, pki.ca, olga, ['SET', 'k', 'from-ops']);
    assert.equal(ops.stdout.trim(), 'OK', ops.stderr);
    const get = await cli(port, pki.ca, alice, ['GET', 'k']);
    assert.equal(get.stdout.trim(), 'from-ops', get.stderr);
    const set = await cli(port, pki.ca, alice, ['SET', 'k', 'from-dev']);
    assert.match(set.stdout, /NOPERM/);
    const line = await gh.waitForAudit((l) => l.event === 'accepted' && l.commonName === 'alice');
    assert.equal(line.redisUser, 'dev');
    const olgaLine = await gh.waitForAudit((l) => l.event === 'closed' && l.commonName === 'olga');
    assert.equal(olgaLine.redisUser, 'ops');
  });

  test("a developer's AUTH ops … does not make it an operator", async () => {
    const c = await rawClient(port, pki.ca, alice);
    try {
      assert.match(await c.send('AUTH', 'ops', 'opspass'), /^-WRONGPASS gatehouse: .*Redis user dev/);
      assert.match(await c.send('SET', 'k', 'x'), /^-NOPERM/);
      // AUTH naming its own user (any password) is answered +OK and changes nothing.
      assert.equal(await c.send('AUTH', 'dev', 'not-the-password'), '+OK\r\n');
      assert.equal(await c.send('AUTH', 'whatever'), '+OK\r\n');
      assert.match(await c.send('SET', 'k', 'x'), /^-NOPERM/);
      assert.equal(await c.send('GET', 'k'), '$8\r\nfrom-ops\r\n');
      // In a transaction a refused AUTH aborts it, as a refused command does.
      assert.equal(
        await c.send('MULTI'),
        "-NOPERM this user has no permissions to run the 'multi' command\r\n",
      );
    } finally {
      c.close();
    }
    const o = await rawClient(port, pki.ca, olga);
    try {
      assert.equal(await o.send('MULTI'), '+OK\r\n');
      assert.equal(
        await o.send('AUTH', 'dev', 'x'),
        '-WRONGPASS gatehouse: this connection is Redis user ops, given by your client certificate; AUTH cannot change it\r\n',
      );
      assert.equal(await o.send('SET', 'k2', 'v'), '+QUEUED\r\n');
      assert.match(await o.send('EXEC'), /^-EXECABORT/);
      // RESET logs the connection out; Gatehouse logs it in again as its own user.
      assert.equal(await o.send('RESET'), '+RESET\r\n');
      assert.equal(await o.send('SET', 'k2', 'after-reset'), '+OK\r\n');
    } finally {
      o.close();
    }
  });

  test('HELLO 3 AUTH from the client: its own user is answered in RESP3, another user refused', async () => {
    const c = await rawClient(port, pki.ca, alice);
    try {
      const hello = await c.send('HELLO', '3', 'AUTH', 'dev', 'anything', 'SETNAME', 'alice-cli');
      assert.match(hello, /^%7\r\n/);
      assert.match(hello, /proto\r\n:3\r\n/);
      assert.match(await c.send('HELLO', '3', 'AUTH', 'ops', 'opspass'), /^-WRONGPASS gatehouse/);
      assert.match(await c.send('SET', 'k', 'x'), /^-NOPERM/);
      assert.equal(await c.send('GET', 'k'), '$8\r\nfrom-ops\r\n');
    } finally {
      c.close();
    }
    // redis-cli -3 starts with HELLO 3: Gatehouse's login is that HELLO.
    const r = await cli(port, pki.ca, alice, ['-3', 'GET', 'k']);
    assert.equal(r.stdout.trim(), 'from-ops', r.stderr);
  });

  test('an identity no entry matches is refused and audited', async () => {
    const c = await rawClient(port, pki.ca, guest);
    assert.match(await c.next(), /^-NOPERM gatehouse: guest has no Redis user/);
    await c.closed;
    const line = await gh.waitForAudit((l) => l.event === 'denied' && l.commonName === 'guest');
    assert.equal(line.reason, 'no_redis_user');
    assert.match(String(line.where), /gatehouse\.yaml:\d+$/);
  });

  test('a wrong password closes the client with a clear error; a changed password file takes effect without restart', async () => {
    const admin = ['-p', String(redis.port), '--user', 'ops', '--pass', 'opspass', '--no-auth-warning'];
    assert.equal(
      (await run('redis-cli', [...admin, 'ACL', 'SETUSER', 'dev', 'resetpass', '>devpass2'])).stdout.trim(),
      'OK',
    );
    const c = await rawClient(port, pki.ca, alice);
    const reply = await c.send('GET', 'k').catch((e: Error) => e.message);
    assert.match(reply, /^-ERR gatehouse: cannot log in to Redis as dev \(WRONGPASS/);
    await c.closed;
    await gh.waitForLog((l) => l.code === 'GH_ERR_REDIS_LOGIN');
    const closed = await gh.waitForAudit((l) => l.event === 'closed' && l.reason === 'redis_login_failed');
    assert.equal(closed.redisUser, 'dev');

    const tmp = path.join(dir, 'secrets', 'dev.tmp');
    fs.writeFileSync(tmp, 'devpass2\n');
    fs.renameSync(tmp, path.join(dir, 'secrets', 'dev'));
    // Every worker watches the file itself: wait for each to have reloaded it.
    const workers = Number(process.env.GATEHOUSE_TEST_WORKERS ?? '1');
    const reloaded = () => gh.logs.filter((l) => l.msg === 'Redis user password file reloaded').length;
    await gh.waitForLog(() => reloaded() >= workers);
    const r = await cli(port, pki.ca, alice, ['GET', 'k']);
    assert.equal(r.stdout.trim(), 'from-ops', r.stderr);
  });
});

describe('a port-range listener with redisUsers in front of a Redis Cluster', () => {
  let dir: string;
  let pki: TestPki;
  let cluster: RedisCluster;
  let gh: Gatehouse;
  let alice: ClientFiles;
  let olga: ClientFiles;
  let lo: number;
  const RANGE = 6;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gh-redis-users-cluster-'));
    pki = await mintPki(['IP:127.0.0.1'], dir);
    alice = await pki.client('alice', ['developers']);
    olga = await pki.client('olga', ['ops']);
    // No replicas: a replica would need its own ACL user to replicate once default is off.
    cluster = await startRedisCluster({ masters: 3, replicas: 0 });
    for (const n of cluster.nodes) {
      const acl = (...a: string[]) => run('redis-cli', ['-p', String(n.port), 'ACL', 'SETUSER', ...a]);
      for (const args of [
        ['dev', 'on', '>devpass', '~*', '+@read'],
        ['ops', 'on', '>opspass', '~*', '+@all'],
        ['gatehouse', 'on', '>discover', '+cluster|shards', '+cluster|nodes', '+info', '+ping'],
        ['default', 'off'],
      ])
        assert.equal((await acl(...args)).stdout.trim(), 'OK');
    }
    fs.mkdirSync(path.join(dir, 'secrets'));
    fs.writeFileSync(path.join(dir, 'secrets', 'dev'), 'devpass');
    fs.writeFileSync(path.join(dir, 'secrets', 'ops'), 'opspass');
    fs.writeFileSync(path.join(dir, 'secrets', 'discovery'), 'discover');
    lo = await freePortRange(RANGE + 1);
    gh = await startGatehouse(
      `pki: ./pki
clusters:
  sessions:
    engine: redis
    nodes: ["127.0.0.1:${cluster.nodes[0]!.port}"]
    refreshInterval: 1s
    discoveryAuth: { user: gatehouse, passwordFile: ./secrets/discovery }
accessEndpoints:
  dev:
    listen: "127.0.0.1:${lo + RANGE}"
    serverCertificate: server
    authorizationRules:
      - { target: "127.0.0.1/32", allGroups: true }
    directListeners:
      - listen: "127.0.0.1:${lo}-${lo + RANGE - 1}"
        target: "cluster:sessions"
        redisUsers:
          - { groups: [developers], user: dev, passwordFile: ./secrets/dev }
          - { identities: [olga], user: ops, passwordFile: ./secrets/ops }
admin:
  enabled: false
`,
      { dir },
    );
  });

  after(async () => {
    await gh?.stop();
    await cluster?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const keys = Array.from({ length: 60 }, (_, i) => `ru:${i}`);

  test('as ops, redis-cli -c SETs across every slot through the public ports', async () => {
    const r = await cli(lo, pki.ca, olga, ['-c'], keys.map((k) => `SET ${k} v-${k}`).join('\n') + '\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout
        .trim()
        .split('\n')
        .filter((l) => l === 'OK').length,
      keys.length,
      r.stdout,
    );
  });

  test('as a developer, redis-cli -c reads across slots and SET is NOPERM', async () => {
    const r = await cli(
      lo,
      pki.ca,
      alice,
      ['-c'],
      keys.map((k) => `GET ${k}`).join('\n') + '\nSET ru:0 nope\n',
    );
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    for (const k of keys) assert.ok(lines.includes(`v-${k}`), `${k} missing:\n${r.stdout}`);
    assert.match(lines.at(-1)!, /NOPERM/);
    // Every node connection logged in: more than one session, each as dev.
    const sessions = gh.audit.filter((l) => l.event === 'accepted' && l.commonName === 'alice');
    assert.ok(new Set(sessions.map((l) => l.target)).size > 1, JSON.stringify(sessions));
    assert.ok(sessions.every((l) => l.redisUser === 'dev'));
  });
});

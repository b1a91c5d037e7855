// Reload: a changed file is reconciled without touching open sessions on unchanged listeners; a
// broken file is refused with FILE:LINE and the last good config keeps serving; SIGHUP reloads.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, run, startRedis, type Server } from '../helpers/procs.js';
import { watchClientId, type ClientIdWatch } from '../helpers/client-id.js';
import { startGatehouse, type Gatehouse } from '../helpers/gatehouse.js';

let redis: Server;
let gh: Gatehouse;
let pA: number, pB: number;
let cli: ClientIdWatch;

const config = (extra: string, description = 'v1') => `
securityGroups:
  local:
    description: ${description}
    ingress:
      - { protocol: tcp, ports: all, source: "127.0.0.0/8" }
portForwards:
  a:
    address: 127.0.0.1
    securityGroups: [local]
    forwards:
      - { listen: "${pA}", target: "127.0.0.1:${redis.port}" }
${extra}
admin:
  enabled: false
`;

const forwardB = () => `  b:
    address: 127.0.0.1
    securityGroups: [local]
    forwards:
      - { listen: "${pB}", target: "127.0.0.1:${redis.port}" }`;

async function ping(port: number): Promise<string> {
  return (await run('redis-cli', ['-p', String(port), 'PING'])).stdout.trim();
}

before(async () => {
  redis = await startRedis();
  pA = await freePort();
  pB = await freePort();
  gh = await startGatehouse(config(''));
  cli = watchClientId('127.0.0.1', pA);
  await cli.more(2);
});

after(async () => {
  cli?.stop();
  await gh?.stop();
  await redis?.stop();
});

test('a valid change starts the new listener and keeps the open session on the unchanged one', async () => {
  gh.writeConfig(config(forwardB(), 'v2'));
  const reloaded = await gh.waitForLog(
    (l) => l.msg === 'config reloaded' && Array.isArray(l.started) && l.started.length > 0,
  );
  assert.deepEqual(reloaded.started, [`127.0.0.1:${pB}`]);
  assert.deepEqual(reloaded.kept, [`127.0.0.1:${pA}`]);
  assert.equal(await ping(pB), 'PONG');
  await cli.more(3);
  assert.equal(
    new Set(cli.ids).size,
    1,
    `the long session reconnected: ids ${[...new Set(cli.ids)].join(',')}`,
  );
  assert.ok(
    !gh.audit.some(
      (l) => l.event === 'closed' && String(l.listener).endsWith(`:${pA}`) && Number(l.durationMs) > 500,
    ),
  );
});

test('an invalid config is refused with FILE:LINE and the last good one keeps serving', async () => {
  const logsBefore = gh.logs.length;
  gh.writeConfig(config(forwardB(), 'v3').replace('127.0.0.0/8', '127.0.0.0/33').replace('admin:', 'admn:'));
  const rejected = await gh.waitForLog(
    (l) => l.msg?.toString().startsWith('config rejected') === true && gh.logs.indexOf(l) >= logsBefore,
  );
  const problems = rejected.problems as string[];
  assert.ok(
    problems.some((p) => /gatehouse\.yaml:6: .*bad prefix length/.test(p)),
    JSON.stringify(problems),
  );
  assert.ok(
    problems.some((p) => /gatehouse\.yaml:\d+: unknown key "admn"/.test(p)),
    JSON.stringify(problems),
  );
  assert.equal(await ping(pA), 'PONG');
  assert.equal(await ping(pB), 'PONG');
  await cli.more(2);
  assert.equal(new Set(cli.ids).size, 1);
});

test('SIGHUP reloads; a removed listener stops accepting while other sessions carry on', async () => {
  gh.writeConfig(config('', 'v4'));
  await gh.waitForLog(
    (l) => l.msg === 'config reloaded' && Array.isArray(l.stopped) && l.stopped.length === 1,
  );
  assert.notEqual(await ping(pB), 'PONG');
  const n = gh.logs.length;
  gh.proc.kill('SIGHUP');
  const hup = await gh.waitForLog((l) => l.trigger === 'SIGHUP' && gh.logs.indexOf(l) >= n);
  assert.equal(hup.msg, 'config reloaded');
  assert.equal(await ping(pA), 'PONG');
  await cli.more(2);
  assert.equal(new Set(cli.ids).size, 1);
});

// The Redis user gate (protocols/resp-user-gate.ts) and the strict request framer under it
// (protocols/resp-request-framer.ts): the login goes first and its reply is consumed, no client
// AUTH or HELLO … AUTH reaches the node as written, replies keep their order, and the framer
// reads requests as redis-server does (CR-ended headers, string2ll numbers, sdssplitargs inline,
// names cut at NUL) at every chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequestFramer, type FramedCommand } from '../../src/protocols/resp-request-framer.js';
import { splitInlineExact } from '../../src/protocols/resp-request-syntax.js';
import { createRedisUserGate, encodeCommand, type GateStep } from '../../src/protocols/resp-user-gate.js';
import { prng } from '../helpers/prng.js';
import { compileRedisUsers, decideRedisUser } from '../../src/policy/redis-users.js';

const cmd = (...args: string[]) => encodeCommand(args).toString('latin1');
const text = (bs: readonly Buffer[]) => Buffer.concat(bs).toString('latin1');

/** Frame `input` fed in pieces of `size` bytes; returns what passes and what was held. */
function frame(input: string, size = Infinity, wanted = ['auth', 'hello', 'reset']) {
  const held: string[][] = [];
  const f = createRequestFramer({
    wants: (n) => wanted.includes(n),
    replace: (c: FramedCommand) => {
      held.push(c.args.map((a) => a.toString('latin1')));
      return Buffer.from(`<${c.args[0]!.toString('latin1')}>`);
    },
  });
  const b = Buffer.from(input, 'latin1');
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += Math.min(size, b.length)) out.push(...f.feed(b.subarray(i, i + size)));
  return { out: text(out), held, error: f.error };
}

test('splitInlineExact reads quotes and escapes as sdssplitargs', () => {
  const s = (l: string) => splitInlineExact(Buffer.from(l, 'latin1'))?.map((b) => b.toString('latin1'));
  assert.deepEqual(s('AUTH ops pw'), ['AUTH', 'ops', 'pw']);
  assert.deepEqual(s('"\\x41UTH" \'op\\\'s\' "a\\tb"'), ['AUTH', "op's", 'a\tb']);
  assert.deepEqual(s('  a"b c"  '), ['ab c']);
  assert.deepEqual(s('au\0th x'), ['au']);
  assert.equal(s('"abc'), undefined);
  assert.equal(s('"abc"d'), undefined);
  assert.deepEqual(s(''), []);
});

test('the framer passes other commands byte for byte and holds the wanted ones, at every chunking', () => {
  const input =
    cmd('SET', 'k', 'v'.repeat(100)) +
    cmd('auth', 'dev', 'x') +
    'PING\r\n' +
    'hello 3 AUTH a b\r\n' +
    cmd('GET', 'k') +
    '*0\r\n' +
    cmd('RESET');
  const want = cmd('SET', 'k', 'v'.repeat(100)) + '<auth>PING\r\n<hello>' + cmd('GET', 'k') + '*0\r\n<RESET>';
  for (const size of [1, 2, 3, 7, 64, Infinity]) {
    const r = frame(input, size);
    assert.equal(r.error, undefined);
    assert.equal(r.out, want, `chunk size ${size}`);
    assert.deepEqual(r.held, [['auth', 'dev', 'x'], ['hello', '3', 'AUTH', 'a', 'b'], ['RESET']]);
  }
});

test('the framer reads headers as redis-server does', () => {
  // A header line ends at CR and the byte after it is skipped unread.
  assert.deepEqual(frame('*2\rX$4\rXAUTH\r\n$1\rXx\r\n').held, [['AUTH', 'x']]);
  // A name is cut at its first NUL, as strcasecmp reads it.
  assert.deepEqual(frame(cmd('AUTH\0junk', 'ops', 'pw')).held, [['AUTH\0junk', 'ops', 'pw']]);
  // A long name with no NUL early is nobody's.
  assert.equal(frame(cmd('AUTHAUTHAUTHAUTHAUTH', 'x')).held.length, 0);
  for (const bad of [
    '*01\r\n',
    '*+1\r\n',
    '*1\r\n$-1\r\n',
    '*1\r\n:4\r\n',
    '*1\r\n$04\r\nAUTH\r\n',
    'PI\0NG\r\n',
    '"PING\r\n',
  ])
    assert.notEqual(frame(bad).error, undefined, JSON.stringify(bad));
});

/** Drive a gate: client and node bytes in order; returns what each side received. */
function drive(
  steps: ({ client: string } | { node: string })[],
  password: () => string | undefined = () => 'secret',
) {
  const gate = createRedisUserGate({ user: 'dev', password });
  let toNode = '';
  let toClient = '';
  let failure: GateStep['failure'];
  for (const s of steps) {
    const r =
      'client' in s
        ? gate.fromClient(Buffer.from(s.client, 'latin1'))
        : gate.fromTarget(Buffer.from(s.node, 'latin1'));
    toNode += text(r.toTarget);
    toClient += text(r.toClient);
    failure ??= r.failure;
  }
  return { toNode, toClient, failure, gate };
}

test('login: AUTH goes first, its +OK is consumed, client bytes wait for it', () => {
  const r = drive([{ client: cmd('GET', 'a') }]);
  assert.equal(r.toNode, cmd('AUTH', 'dev', 'secret'));
  const r2 = drive([{ client: cmd('GET', 'a') }, { node: '+OK\r\n' }]);
  assert.equal(r2.toNode, cmd('AUTH', 'dev', 'secret') + cmd('GET', 'a'));
  assert.equal(r2.toClient, '');
  assert.equal(r2.gate.loggedIn, true);
});

test('login: a first HELLO 3 becomes HELLO 3 AUTH and its reply is the client’s', () => {
  const r = drive([
    { client: cmd('HELLO', '3', 'SETNAME', 'me') + cmd('PING') },
    { node: '%1\r\n+proto\r\n:3\r\n+PONG\r\n' },
  ]);
  assert.equal(r.toNode, cmd('HELLO', '3', 'AUTH', 'dev', 'secret', 'SETNAME', 'me') + cmd('PING'));
  assert.equal(r.toClient, '%1\r\n+proto\r\n:3\r\n+PONG\r\n');
  assert.equal(r.gate.login, 'hello');
});

test('login: a refused login fails the gate and nothing of the client reaches the node', () => {
  const r = drive([
    { client: cmd('SET', 'a', 'b') },
    { node: '-WRONGPASS invalid username-password pair\r\n' },
  ]);
  assert.equal(r.toNode, cmd('AUTH', 'dev', 'secret'));
  assert.deepEqual(r.failure, {
    kind: 'login_refused',
    serverError: 'WRONGPASS invalid username-password pair',
  });
  assert.equal(drive([{ client: cmd('PING') }], () => undefined).failure?.kind, 'no_password');
});

test('a client AUTH is replaced where it stands: the mapped user gets Gatehouse’s password, anyone else a refusal', () => {
  const login = [{ client: '' }, { client: cmd('PING') }, { node: '+OK\r\n+PONG\r\n' }] as const;
  const r = drive([
    ...login,
    {
      client:
        cmd('GET', 'a') +
        cmd('AUTH', 'dev', 'guess') +
        cmd('AUTH', 'ops', 'opspw') +
        cmd('AUTH', 'pw') +
        cmd('GET', 'b'),
    },
    { node: "$1\r\nA\r\n+OK\r\n-ERR wrong number of arguments for 'auth' command\r\n+OK\r\n$1\r\nB\r\n" },
  ]);
  assert.equal(
    r.toNode,
    cmd('AUTH', 'dev', 'secret') +
      cmd('PING') +
      cmd('GET', 'a') +
      cmd('AUTH', 'dev', 'secret') +
      cmd('AUTH') +
      cmd('AUTH', 'dev', 'secret') +
      cmd('GET', 'b'),
  );
  assert.ok(!r.toNode.includes('opspw') && !r.toNode.includes('guess'));
  assert.match(
    r.toClient,
    /^\+PONG\r\n\$1\r\nA\r\n\+OK\r\n-WRONGPASS gatehouse: [^\r\n]*\r\n\+OK\r\n\$1\r\nB\r\n$/,
  );
});

test('HELLO … AUTH after login: the mapped user’s credentials are Gatehouse’s, another user is refused', () => {
  const login = [{ client: cmd('PING') }, { node: '+OK\r\n+PONG\r\n' }] as const;
  assert.equal(
    drive([...login, { client: cmd('hello', '3', 'auth', 'dev', 'x') }]).toNode.slice(
      cmd('AUTH', 'dev', 'secret').length + cmd('PING').length,
    ),
    cmd('hello', '3', 'AUTH', 'dev', 'secret'),
  );
  assert.ok(
    drive([...login, { client: cmd('HELLO', '3', 'AUTH', 'ops', 'x') }]).toNode.endsWith(cmd('AUTH')),
  );
  assert.ok(drive([...login, { client: cmd('HELLO', '3') }]).toNode.endsWith(cmd('HELLO', '3')));
});

test('RESET is followed by Gatehouse’s AUTH, whose reply is consumed', () => {
  const r = drive([
    { client: cmd('PING') },
    { node: '+OK\r\n+PONG\r\n' },
    { client: cmd('RESET') + cmd('GET', 'a') },
    { node: '+RESET\r\n+OK\r\n$-1\r\n' },
  ]);
  assert.ok(r.toNode.endsWith(cmd('RESET') + cmd('AUTH', 'dev', 'secret') + cmd('GET', 'a')));
  assert.equal(r.toClient, '+PONG\r\n+RESET\r\n$-1\r\n');
  const failed = drive([
    { client: cmd('PING') },
    { node: '+OK\r\n+PONG\r\n' },
    { client: cmd('RESET') },
    { node: '+RESET\r\n-WRONGPASS x\r\n' },
  ]);
  assert.equal(failed.failure?.kind, 'login_refused');
});

test('replies are relayed unchanged at every chunking', () => {
  const replies =
    '+PONG\r\n*2\r\n$1\r\na\r\n:1\r\n-ERR other\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n$3\r\nend\r\n';
  for (const size of [1, 2, 5, Infinity]) {
    const gate = createRedisUserGate({ user: 'dev', password: () => 'pw' });
    gate.fromClient(Buffer.from(cmd('PING')));
    const b = Buffer.from('+OK\r\n' + replies, 'latin1');
    let got = '';
    for (let i = 0; i < b.length; i += Math.min(size, b.length))
      got += text(gate.fromTarget(b.subarray(i, i + size)).toClient);
    assert.equal(got, replies, `chunk size ${size}`);
  }
});

test('fuzz: no chunking and no mutation makes the node see an AUTH that is not Gatehouse’s', () => {
  const rng = prng(17);
  const words = [
    'GET',
    'SET',
    'AUTH',
    'auth',
    'HELLO',
    'hello',
    'RESET',
    'PING',
    'MULTI',
    'EXEC',
    'AUTH\0x',
    'ops',
    'dev',
    'opspw',
    '3',
    'SETNAME',
  ];
  const one = () => {
    const args = Array.from({ length: 1 + rng.int(5) }, () => rng.pick(words));
    if (rng.int(4) === 0) return args.join(' ') + (rng.int(2) ? '\r\n' : '\n');
    return cmd(...args);
  };
  for (let round = 0; round < 400; round++) {
    let stream = Array.from({ length: 1 + rng.int(8) }, one).join('');
    // Mutations: a byte flipped, dropped or doubled; the framer must refuse or frame it as Redis would.
    for (let m = rng.int(3); m > 0; m--) {
      const at = rng.int(stream.length);
      const kind = rng.int(3);
      stream =
        kind === 0
          ? stream.slice(0, at) + String.fromCharCode(rng.int(256)) + stream.slice(at + 1)
          : kind === 1
            ? stream.slice(0, at) + stream.slice(at + 1)
            : stream.slice(0, at) + stream[at] + stream.slice(at);
    }
    const gate = createRedisUserGate({ user: 'dev', password: () => 'secret' });
    const b = Buffer.from(stream, 'latin1');
    let toNode = '';
    let failed = false;
    for (let i = 0; i < b.length && !failed;) {
      const n = 1 + rng.int(12);
      const r = gate.fromClient(b.subarray(i, i + n));
      toNode += text(r.toTarget);
      failed = r.failure !== undefined;
      i += n;
      if (i === n && !failed) gate.fromTarget(Buffer.from('+OK\r\n')); // the login's reply
    }
    // What the node gets, read as redis-server reads it: every AUTH is Gatehouse's or a bare one.
    const seen: string[][] = [];
    createRequestFramer({
      wants: (n) => n === 'auth' || n === 'hello',
      replace: (c) => {
        seen.push(c.args.map((a) => a.toString('latin1')));
        return c.raw;
      },
    }).feed(Buffer.from(toNode, 'latin1'));
    for (const args of seen) {
      const name = args[0]!.split('\0')[0]!.toLowerCase();
      if (name === 'auth')
        assert.ok(
          args.length === 1 || (args[1] === 'dev' && args[2] === 'secret'),
          JSON.stringify({ stream, args }),
        );
      else
        args.forEach((a, j) => {
          if (
            j >= 2 &&
            a.split('\0')[0]!.toLowerCase() === 'auth' &&
            j + 2 < args.length &&
            args[j - 1]?.toLowerCase() !== 'setname'
          )
            assert.deepEqual(args.slice(j + 1, j + 3), ['dev', 'secret'], JSON.stringify({ stream, args }));
        });
    }
  }
});

test('decideRedisUser: first match wins, by group or common name; no match refuses with the list’s FILE:LINE', () => {
  const source = { file: 'g.yaml', where: (p: readonly (string | number)[]) => `g.yaml:${p.length}` };
  const policy = compileRedisUsers(
    [
      { identities: ['olga'], user: 'ops', passwordFile: 'ops' },
      { groups: ['developers', 'ops'], user: 'dev', passwordFile: 'dev' },
    ],
    source,
    ['accessEndpoints', 'e', 'directListeners', 0, 'redisUsers'],
  );
  assert.equal(decideRedisUser(policy, { commonName: 'olga', groups: ['developers'] }).user, 'ops');
  const dev = decideRedisUser(policy, { commonName: 'alice', groups: ['ops'] });
  assert.deepEqual(
    [dev.allowed, dev.reason, dev.user, dev.rule?.index],
    [true, 'redis_user_matched', 'dev', 1],
  );
  const none = decideRedisUser(policy, { commonName: 'guest', groups: ['guests'] });
  assert.deepEqual([none.allowed, none.reason, none.rule?.where], [false, 'no_redis_user', 'g.yaml:5']);
});

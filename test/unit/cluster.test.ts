import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignPorts, EMPTY_ASSIGNMENT } from '../../src/cluster/port-assignment.js';
import { parseClusterNodes, parseClusterShards, type ClusterNode } from '../../src/cluster/topology.js';

const node = (id: string, port: number, host = '10.0.1.1'): ClusterNode => ({
  id,
  host,
  port,
  role: 'master',
  slots: [],
  healthy: true,
});

test('port map: stable ports, new nodes take free ones, draining ports are held back', () => {
  const a1 = assignPorts(EMPTY_ASSIGNMENT, [node('a', 1), node('b', 2), node('c', 3)], [7000, 7003]);
  assert.deepEqual(
    [...a1.byNode],
    [
      ['a', 7000],
      ['b', 7001],
      ['c', 7002],
    ],
  );
  // b is replaced by d while b's port still carries a session: d must not get 7001.
  const a2 = assignPorts(a1, [node('a', 1), node('c', 3), node('d', 4)], [7000, 7003], new Set([7001]));
  assert.equal(a2.byNode.get('a'), 7000);
  assert.equal(a2.byNode.get('c'), 7002);
  assert.equal(a2.byNode.get('d'), 7003);
  assert.equal(a2.byPort.get(7001), undefined);
  // The range is full now: a fifth node is reported, not silently dropped.
  const a3 = assignPorts(
    a2,
    [node('a', 1), node('c', 3), node('d', 4), node('e', 5)],
    [7000, 7003],
    new Set([7001]),
  );
  assert.deepEqual(a3.unplaced, ['e']);
  // Once drained, 7001 is free for e; an address change under the same id keeps the port.
  const a4 = assignPorts(
    a3,
    [node('a', 1, '10.0.1.9'), node('c', 3), node('d', 4), node('e', 5)],
    [7000, 7003],
  );
  assert.equal(a4.byNode.get('e'), 7001);
  assert.equal(a4.byNode.get('a'), 7000);
  assert.equal(a4.byPort.get(7000)!.host, '10.0.1.9');
});

test('CLUSTER NODES text parses roles, masters and slots; migrating slots and bad lines skipped', () => {
  const t = parseClusterNodes(
    [
      'f1 10.0.1.5:6379@16379 master - 0 1 3 connected 10923-16383 [5->-f2]',
      'f2 10.0.1.6:6379@16379,host-b myself,master - 0 0 1 connected 0-5460 5461',
      'f3 10.0.1.7:6379@16379 slave f1 0 1 3 connected',
      'f4 :0@0 master,noaddr - 0 1 3 disconnected',
      'f5 10.0.1.8:99999@1 master - 0 1 3 connected',
      'garbage',
      'f6 10.0.1.9:6379@16379 master,fail - 0 1 3 disconnected 70000',
    ].join('\n'),
  );
  assert.deepEqual(
    t.nodes.map((n) => [n.id, n.host, n.port, n.role, n.masterId ?? '', JSON.stringify(n.slots), n.healthy]),
    [
      ['f1', '10.0.1.5', 6379, 'master', '', '[[10923,16383]]', true],
      ['f2', '10.0.1.6', 6379, 'master', '', '[[0,5460],[5461,5461]]', true],
      ['f3', '10.0.1.7', 6379, 'replica', 'f1', '[]', true],
      ['f6', '10.0.1.9', 6379, 'master', '', '[]', false],
    ],
  );
});

test('CLUSTER SHARDS reply (RESP2 flat maps) parses; malformed members are skipped', () => {
  const t = parseClusterShards([
    [
      'slots',
      [0, 5460],
      'nodes',
      [
        [
          'id',
          'm1',
          'port',
          7001,
          'ip',
          '10.0.1.5',
          'endpoint',
          '10.0.1.5',
          'role',
          'master',
          'health',
          'online',
        ],
        ['id', 'r1', 'port', 7004, 'ip', '10.0.1.8', 'role', 'replica', 'health', 'loading'],
        ['id', 'x', 'port', 0, 'ip', '10.0.1.9', 'role', 'replica'],
      ],
    ],
    'not a shard',
    ['slots', [20000, 1], 'nodes', [['id', 'm2', 'port', 7002, 'ip', '10.0.1.6', 'role', 'master']]],
  ]);
  assert.deepEqual(
    t.nodes.map((n) => [n.id, n.port, n.role, n.masterId ?? '', n.slots.length, n.healthy]),
    [
      ['m1', 7001, 'master', '', 1, true],
      ['r1', 7004, 'replica', 'm1', 0, false],
      ['m2', 7002, 'master', '', 0, true],
    ],
  );
});

test('a lone node that has met no other reports an empty ip: the asked host stands in', () => {
  const nodes = parseClusterNodes('abc :12000@22000 myself,master - 0 0 0 connected 0-16383\n', '127.0.0.1');
  assert.deepEqual(
    nodes.nodes.map((n) => [n.host, n.port]),
    [['127.0.0.1', 12000]],
  );
  const shards = parseClusterShards(
    [
      [
        'slots',
        [0, 16383],
        'nodes',
        [['id', 'abc', 'port', 12000, 'ip', '', 'endpoint', '', 'role', 'master']],
      ],
    ],
    '127.0.0.1',
  );
  assert.equal(shards.nodes[0]?.host, '127.0.0.1');
  assert.equal(parseClusterNodes('abc :12000@22000 master - 0 0 0 connected\n', '127.0.0.1').nodes.length, 0);
});

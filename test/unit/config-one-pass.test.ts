// `validate` in one pass: schema problems and the cross-checks of what does parse (unknown sg: and
// cluster: references, two listeners on one port) come together, each at its own FILE:LINE, and
// nothing the pruning of a broken part could cause is reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { fromCwd } from '../../src/config/check.js';
import { isGatehouseError } from '../../src/errors.js';

function problems(yaml: string): string[] {
  try {
    parseConfig(yaml, 'g.yaml', '/nonexistent-base');
  } catch (err) {
    assert.ok(isGatehouseError(err));
    return [...err.details];
  }
  return [];
}

test('a schema problem and the reference and collision problems come in the same answer', () => {
  const got = problems(`securityGroups:
  office:
    ingress:
      - { ports: '6380', source: 'sg:nosuch' }
      - { ports: 'x', source: '10.0.0.0/8' }
  broken:
    members: ['nonsense']
portForwards:
  nat:
    securityGroups: [office, broken]
    bogus: 1
    forwards:
      - { listen: '6380', target: '10.0.0.1:6379' }
      - { listen: 'zz', target: '10.0.0.2:6379' }
      - { listen: '6380', target: '10.0.0.2:6379' }
      - { listen: '6381', cluster: nope }
`);
  assert.deepEqual(got, [
    'g.yaml:5: securityGroups.office.ingress.1.ports: "x" is not a port number',
    'g.yaml:7: securityGroups.broken.members.0: "nonsense" is not an IP address or CIDR',
    'g.yaml:14: portForwards.nat.forwards.1.listen: "zz" is not a port number',
    'g.yaml:11: unknown key "bogus" in portForwards.nat',
    'g.yaml:4: security group "nosuch" is not defined; add it under securityGroups or fix the name (defined: office, broken)',
    // Placed at the lines of the original items, although the broken one before them was taken out.
    'g.yaml:16: cluster "nope" is not defined; add it under clusters or fix the name',
    'g.yaml:15: 0.0.0.0:6380 is already a listener of portForwards.nat.forwards[0]; two listeners cannot share an address and port',
  ]);
});

test('what pruning a broken part would cause is not reported: a pruned group, an emptied key', () => {
  const got = problems(`securityGroups:
  gone: 12
portForwards:
  nat:
    securityGroups: [gone]
    forwards:
      - { listen: '6380', target: 'not an address' }
`);
  assert.equal(got.length, 2, got.join('\n'));
  assert.match(got[0]!, /^g\.yaml:2: securityGroups\.gone:/);
  assert.match(got[1]!, /^g\.yaml:7: portForwards\.nat\.forwards\.0\.target:/);
});

test('hints name paths as seen from the working directory', () => {
  assert.equal(fromCwd('/srv/app/sub/pki', '/srv/app'), 'sub/pki');
  assert.equal(fromCwd('/srv/app/pki', '/srv/app'), './pki');
  assert.equal(fromCwd('/srv/app', '/srv/app'), '.');
  assert.equal(fromCwd('/etc/gatehouse/pki', '/srv/app'), '/etc/gatehouse/pki');
  assert.equal(path.isAbsolute(fromCwd('/x/y', '/srv')), true);
});

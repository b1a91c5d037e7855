// The deploy files hold what they promise: the Kustomize manifests render with `kubectl kustomize`
// and have probes, preStop, a termination grace that covers drain and shutdown, a disruption
// budget, an autoscaler, a Service that keeps the client's address, config and secrets mounted as
// directories (never subPath), a non-root container without capabilities; the config they carry
// is valid for the schema; the systemd unit passes `systemd-analyze verify` where systemd is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { run } from '../helpers/procs.js';
import { ROOT } from '../helpers/gatehouse.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered manifests, checked below
type Json = any;

async function have(cmd: string): Promise<boolean> {
  return (await run('bash', ['-c', `command -v ${cmd}`])).code === 0;
}

test('the Kubernetes manifests render and hold every property the fleet needs', async (t) => {
  if (!(await have('kubectl')))
    return t.skip('kubectl is not installed (scripts/install-test-deps.sh adds it)');
  const r = await run('kubectl', ['kustomize', path.join(ROOT, 'deploy', 'kubernetes')]);
  assert.equal(r.code, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Json);
  const of = (kind: string) => docs.filter((d) => d.kind === kind);
  const [deploy] = of('Deployment');
  assert.ok(deploy, 'a Deployment');
  const pod = deploy.spec.template.spec;
  const c = pod.containers.find((x: Json) => x.name === 'gatehouse');
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.path, '/livez');
  assert.ok(c.lifecycle.preStop, 'a preStop hook');
  // The config the pods run: its drain and shutdown fit in the termination grace, with preStop.
  const cm = of('ConfigMap').find((x) => x.metadata.name === 'gatehouse-config');
  const config = configSchema.parse(parse(cm.data['gatehouse.yaml'] as string));
  const preStopS =
    Number(/setTimeout\(\(\) => \{\}, (\d+)\)/.exec(c.lifecycle.preStop.exec.command.join(' '))?.[1]) / 1000;
  assert.ok(
    pod.terminationGracePeriodSeconds >= preStopS + config.drainDelay / 1000 + config.shutdownTimeout / 1000,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} < preStop ${preStopS} + drain + shutdown`,
  );
  assert.ok(config.health, 'the health listener the probes use');
  assert.equal(
    String(config.health.listen.port),
    String(c.ports.find((p: Json) => p.name === 'health').containerPort),
  );
  assert.ok(config.fleet, 'replicas share state');
  // Non-root, no capabilities by default, read-only root.
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  assert.equal(c.securityContext.capabilities.add, undefined);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  // Directories, never subPath: an edit reaches the pod.
  for (const container of [...pod.containers, ...(pod.initContainers ?? [])])
    for (const m of container.volumeMounts ?? [])
      assert.equal(m.subPath, undefined, `${m.name} uses subPath`);
  const volumes = new Map(pod.volumes.map((v: Json) => [v.name, v]));
  assert.ok((volumes.get('config') as Json).configMap);
  assert.ok((volumes.get('secrets') as Json).secret);
  const [pdb] = of('PodDisruptionBudget');
  assert.ok(pdb?.spec.maxUnavailable !== undefined || pdb?.spec.minAvailable !== undefined);
  const [hpa] = of('HorizontalPodAutoscaler');
  assert.equal(hpa?.spec.scaleTargetRef.name, deploy.metadata.name);
  const lb = of('Service').find((s) => s.spec.type === 'LoadBalancer');
  assert.ok(
    lb.spec.externalTrafficPolicy === 'Local' ||
      lb.metadata.annotations?.['service.beta.kubernetes.io/aws-load-balancer-proxy-protocol'] === '*',
    'the client address survives the balancer',
  );
  // Every listener of the config that takes PROXY headers trusts some balancer.
  for (const pf of Object.values(config.portForwards))
    if (pf.proxyProtocol) assert.ok(pf.trustedProxies.length > 0);
});

test('the systemd unit passes systemd-analyze verify and is hardened', async (t) => {
  const unit = path.join(ROOT, 'deploy', 'systemd', 'gatehouse.service');
  const text = (await run('cat', [unit])).stdout;
  for (const line of [
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ReadWritePaths=/var/lib/gatehouse',
    'LogsDirectory=gatehouse',
    'KillMode=mixed',
  ])
    assert.ok(text.includes(line), line);
  assert.match(text, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
  assert.match(text, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  // The kernel path's drop-in adds CAP_NET_ADMIN and nothing else.
  const dropIn = (
    await run('cat', [path.join(ROOT, 'deploy', 'systemd', 'gatehouse.service.d', 'kernel-path.conf')])
  ).stdout;
  assert.match(dropIn, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_ADMIN$/m);
  assert.match(dropIn, /^AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_ADMIN$/m);
  if (!(await have('systemd-analyze'))) return t.skip('systemd-analyze is not here');
  const r = await run('systemd-analyze', ['verify', unit]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /Unknown|invalid|bad-setting/i);
});

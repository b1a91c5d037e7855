// The egress proxy face (the Squid fleet equivalent): admit by security group, identify by proxy
// auth (or anonymous), target from the HTTP request or CONNECT, authorize by allowlist and port
// policy, resolve once and guard the address, dial it, relay, log. The runtime owns the listeners;
// each proxy here is an EgressProxy fed the sockets the runtime accepted.
import type { Socket } from 'node:net';
import { admitOrRefuse } from '../../pipeline/admit.js';
import type { FaceContext } from '../context.js';
import type { Face, FacePlan } from '../face.js';
import { compileProxy, type ProxySettings } from './compile.js';
import { EgressMetrics } from './metrics.js';
import { EgressProxy } from './proxy.js';

const FACE = 'egressProxy';

function handle(proxy: EgressProxy, settings: ProxySettings, socket: Socket, ctx: FaceContext): void {
  const site = { face: FACE, listener: settings.listener, groups: settings.groups };
  if (!admitOrRefuse(ctx, site, socket)) return;
  proxy.accept(socket, ctx);
}

interface EgressPlan extends FacePlan {
  /** Every proxy of the snapshot, compiled once, by name. */
  readonly proxies: ReadonlyMap<string, ProxySettings>;
}

export function createEgressProxyFace(): Face<EgressPlan> {
  const proxies = new Map<string, EgressProxy>();
  const metrics = new EgressMetrics();
  return {
    name: FACE,
    plan(snapshot) {
      const next = new Map<string, ProxySettings>();
      for (const [name, cfg] of Object.entries(snapshot.loaded.config.egressProxies))
        next.set(name, compileProxy(name, cfg, snapshot.loaded));
      const routes = [...next.values()].map((settings) => {
        // Files are loaded here, before the listener can accept, so the first request already
        // meets the allowlist (an unloadable file denies: fail closed).
        let proxy = proxies.get(settings.name);
        if (!proxy) {
          proxy = new EgressProxy(settings, metrics);
          proxies.set(settings.name, proxy);
        }
        const p = proxy;
        return {
          bind: settings.bind,
          limits: {
            values: snapshot.loaded.config.egressProxies[settings.name]!.limits,
            path: ['egressProxies', settings.name],
          },
          ...(settings.trustedProxies
            ? { proxy: { trusted: settings.trustedProxies, face: FACE, listener: settings.listener } }
            : {}),
          handle: (socket: Socket, ctx: FaceContext) => handle(p, settings, socket, ctx),
        };
      });
      return { routes, proxies: next };
    },
    async applied(plan, _snapshot, ctx) {
      ctx.metrics.register(metrics.registry);
      for (const [name, proxy] of proxies) {
        const settings = plan.proxies.get(name);
        if (settings) {
          // Existing proxies take the new settings here, not in plan(): a snapshot that is
          // prepared and then dropped (a worker elsewhere refused it) changes nothing.
          if (proxy.settings !== settings) proxy.configure(settings);
          proxy.applied(ctx);
        } else {
          proxies.delete(name);
          await proxy.shutdown();
        }
      }
    },
    async shutdown() {
      await Promise.all([...proxies.values()].map((p) => p.shutdown()));
    },
  };
}

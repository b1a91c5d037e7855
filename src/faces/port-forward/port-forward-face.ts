// The port forward face: the userspace relay on every planned port. The plan (the snapshot's
// forward plan, policy/forward-plan.ts) is made once per snapshot; the routes read it here, and the
// host reads the same plan for the cluster lines' port maps and the kernel data path
// (runtime/host.ts), which is one per host however many workers relay.
import { formatHostPort } from '../../net/address.js';
import type { Face, FacePlan } from '../face.js';
import { FACE, handlePortForward } from './connection.js';

export function createPortForwardFace(): Face {
  return {
    name: FACE,
    plan(snapshot): FacePlan {
      return {
        routes: snapshot.forwardPlan.map((entry) => ({
          bind: entry.bind,
          limits: {
            values: snapshot.loaded.config.portForwards[entry.name]!.limits,
            path: ['portForwards', entry.name],
          },
          ...(entry.trustedProxies
            ? {
                proxy: {
                  trusted: entry.trustedProxies,
                  face: FACE,
                  listener: `${entry.name}@${formatHostPort(entry.bind.host, entry.bind.port)}`,
                },
              }
            : {}),
          handle: (socket, ctx) => handlePortForward(socket, entry, ctx),
        })),
      };
    },
  };
}

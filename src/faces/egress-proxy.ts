// The egress proxy face (the Squid fleet equivalent). Filled in by the egress-proxies work.
import type { Face } from './face.js';

export function createEgressProxyFace(): Face {
  return { name: 'egressProxy', routes: () => [] };
}

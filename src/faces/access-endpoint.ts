// The access endpoint face (the Client VPN equivalent). Filled in by the access-endpoints work.
import type { Face } from './face.js';

export function createAccessEndpointFace(): Face {
  return { name: 'accessEndpoint', routes: () => [] };
}

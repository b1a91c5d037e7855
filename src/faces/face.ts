// A face is an arrangement of pipeline steps behind some listeners. The runtime owns the sockets
// (plain TCP servers: TLS, where a face wants it, is layered on the accepted socket so security
// groups admit before any handshake) and asks each face, per config snapshot, which binds it
// wants and what a connection on each does.
import type { Socket } from 'node:net';
import type { LoadedConfig } from '../config/load.js';
import type { HostPort } from '../net/address.js';
import type { SecurityPolicy } from '../policy/security-groups.js';
import type { FaceContext } from './context.js';

export interface Snapshot {
  readonly loaded: LoadedConfig;
  readonly policy: SecurityPolicy;
}

export interface ListenerRoute {
  readonly bind: HostPort;
  /** Handles one accepted connection under the snapshot this route was made from. */
  handle(socket: Socket, ctx: FaceContext): void;
}

export interface Face {
  readonly name: string;
  /** The listeners this face wants under `snapshot`; built before anything changes. */
  routes(snapshot: Snapshot): ListenerRoute[];
  /** After a snapshot is in force: start or adjust watchers and timers. */
  applied?(snapshot: Snapshot, ctx: FaceContext): void | Promise<void>;
  /** Stop watchers and timers (sessions are closed by the runtime). Idempotent. */
  shutdown?(): void | Promise<void>;
}

// The session runner: the one place where a session is registered, relays (or runs its protocol),
// is unregistered and reported closed. Every face runs its sessions through here, so what needs to
// see every session (the console, terminate and revocation today; worker processes and fleet
// replicas next) hooks one seam instead of one per face.
//
// Two shapes: runRelay for a session that is a byte relay (a port forward, an access target, an
// egress tunnel), openSession for one whose bytes move some other way (an egress HTTP exchange,
// which ends when its response does). The face keeps what is its own: the `closed` record it
// writes (a connection-log line, a Squid access-log line) comes from its `closed` callback.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { relay, type Relay, type RelayOptions, type RelayResult } from './relay.js';
import {
  LiveSession,
  type ByteCounts,
  type SessionCloser,
  type SessionRegistry,
} from './session-registry.js';

/** Who a session is: what the registry lists and the audit trail names. */
export interface SessionStart {
  /** From SessionRegistry.newId(), drawn when the face first logs the session. */
  readonly id: string;
  readonly face: string;
  readonly listener: string;
  readonly source: string;
  readonly target: string;
  readonly identity: string | undefined;
  /** The client certificate's serial (mTLS faces): revocation closes by it. */
  readonly serial?: string;
  /** Date.now() when the session began; defaults to now. */
  readonly startMs?: number;
}

/** A registered session that ends when its owner says so. */
export interface OpenSession {
  readonly id: string;
  /** Unregister; later calls do nothing. */
  end(): void;
}

/** The registry's entry for a session: who it is (`start`), its live counts, how to close it. */
function liveSession(start: SessionStart, counts: ByteCounts, closer: SessionCloser): LiveSession {
  return new LiveSession(
    start.id,
    start.face,
    start.listener,
    start.source,
    start.target,
    start.identity,
    start.startMs ?? Date.now(),
    counts,
    closer,
    start.serial,
  );
}

/** Register a session whose bytes are counted by `counts` and that `closer` can close. */
export function openSession(
  sessions: SessionRegistry,
  start: SessionStart,
  counts: ByteCounts,
  closer: SessionCloser,
): OpenSession {
  sessions.add(liveSession(start, counts, closer));
  let open = true;
  return {
    id: start.id,
    end() {
      if (!open) return;
      open = false;
      sessions.remove(start.id);
    },
  };
}

export interface RunRelayOptions extends RelayOptions {
  /** What the registry reads while the session runs; default: the relay's own client-side counts. */
  readonly counts?: ByteCounts;
}

/**
 * Register → relay → unregister → `closed(result)`. The session is registered before the first
 * byte moves, and unregistered before `closed` runs, so a `closed` record never names a session the
 * console still lists.
 */
export function runRelay(
  sessions: SessionRegistry,
  start: SessionStart,
  client: Socket | Duplex,
  target: Socket | Duplex,
  opts: RunRelayOptions,
  closed: (result: RelayResult) => void,
): Relay {
  // One closure per session (this one) and the relay itself as the registry's counts and closer:
  // an idle session's heap is mostly what its relay and its registry entry keep.
  const r = relay(client, target, opts, (result) => {
    sessions.remove(start.id);
    closed(result);
  });
  sessions.add(liveSession(start, opts.counts ?? r, r));
  return r;
}

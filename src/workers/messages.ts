// What the primary and its workers say to each other over the cluster IPC channel (structured
// clone: `serialization: 'advanced'`, so audit events and topologies cross as values, not JSON
// text). Every message has a `t`; messages of other senders on the same channel (prom-client's
// metrics aggregation) have none and are ignored here.
import type { AuditEvent } from '../audit/events.js';
import type { LineAssignment } from '../cluster/node-ports.js';
import type { Topology } from '../cluster/topology.js';
import type { SessionInfo } from '../pipeline/session-registry.js';
import type { ApplyReport } from '../runtime/runtime.js';

/** A config as the primary validated it: the worker parses the same text into the same snapshot. */
export interface ConfigText {
  readonly file: string;
  readonly baseDir: string;
  readonly text: string;
}

/** The host-wide state a worker's replica needs before it commits a snapshot. */
export interface HostState {
  readonly ticketSecret: Buffer;
  readonly topologies: readonly (readonly [string, Topology])[];
  readonly ports: readonly LineAssignment[];
}

export interface RefusedConfig {
  readonly code?: string | undefined;
  readonly message: string;
  readonly problems?: readonly string[];
}

/** Requests either side answers with a `reply` of the same id. */
export type WorkerRequest =
  { readonly op: 'sessions' } | { readonly op: 'terminate'; readonly session: string };

export type ToWorker =
  | { readonly t: 'prepare'; readonly gen: number; readonly config: ConfigText }
  | { readonly t: 'commit'; readonly gen: number; readonly host: HostState }
  | { readonly t: 'abort'; readonly gen: number }
  | { readonly t: 'topology'; readonly cluster: string; readonly topology: Topology }
  | { readonly t: 'ports'; readonly ports: readonly LineAssignment[] }
  | { readonly t: 'request'; readonly id: number; readonly req: WorkerRequest }
  | { readonly t: 'reply'; readonly id: number; readonly value: unknown }
  | { readonly t: 'shutdown'; readonly grace: number };

export type PrimaryRequest = { readonly op: 'metrics' };

export type FromWorker =
  /** Booted and waiting for a config; its session ids start with idPrefix. */
  | { readonly t: 'ready'; readonly idPrefix: string }
  | { readonly t: 'prepared'; readonly gen: number; readonly error?: RefusedConfig }
  | {
      readonly t: 'committed';
      readonly gen: number;
      readonly report: ApplyReport;
      readonly listening: { bind: string; port: number }[];
    }
  | { readonly t: 'audit'; readonly events: readonly AuditEvent[] }
  | { readonly t: 'lines'; readonly file: string; readonly text: string }
  | { readonly t: 'refresh'; readonly cluster: string }
  | { readonly t: 'portSessions'; readonly counts: readonly (readonly [string, number])[] }
  | { readonly t: 'request'; readonly id: number; readonly req: PrimaryRequest }
  | { readonly t: 'reply'; readonly id: number; readonly value: unknown }
  /** Drained, audit flushed: about to exit. */
  | { readonly t: 'stopped' };

export type SessionsReply = SessionInfo[];

/** Whether a message on the channel is one of ours. */
export function isOurs(m: unknown): m is { t: string } {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}

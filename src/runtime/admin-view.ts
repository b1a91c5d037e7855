// What the runtime shows to those above it: the admin API reads the runtime only through
// AdminRuntime (a narrow read view and three commands), and services the runtime owns beside its
// listeners (the admin listener) implement RuntimeService. Types only: the admin depends on the
// runtime, never the other way round.
import type { LogReopenReport } from '../audit/log-files.js';
import type { LoadedConfig } from '../config/load.js';
import type { SessionInfo } from '../pipeline/session-registry.js';

export interface RuntimeService {
  apply(loaded: LoadedConfig): Promise<void>;
  close(): Promise<void>;
}

export interface ReloadOutcome {
  readonly ok: boolean;
  readonly trigger: string;
  readonly error?: {
    readonly code?: string | undefined;
    readonly message: string;
    readonly problems?: readonly string[];
  };
  readonly report?: {
    readonly started: string[];
    readonly stopped: string[];
    readonly kept: string[];
    readonly failed: { bind: string; error: string }[];
  };
}

export interface RuntimeInspection {
  readonly startedAt: Date;
  readonly loaded: LoadedConfig | undefined;
  readonly listeners: { bind: string; port: number }[];
}

/** A live session as the admin lists it: with the worker that holds it when there are several. */
export interface ListedSession extends SessionInfo {
  /** "w1", "w2"… for a worker's session, "primary" for the primary's own (kernel-path flows). */
  readonly worker?: string;
  /** The fleet replica that holds it (with `fleet`). */
  readonly replica?: string;
}

/** What the admin API may ask of the runtime. */
export interface AdminRuntime {
  inspect(): RuntimeInspection;
  /** Every live session, in every process. */
  listSessions(): Promise<ListedSession[]>;
  /** Close one live session wherever it runs; false when there is no such session. */
  terminate(id: string): Promise<boolean>;
  reload(trigger: string): Promise<ReloadOutcome>;
  /** Open the log files again by their paths (after logrotate renamed them). */
  reopenLogs(): Promise<LogReopenReport>;
}

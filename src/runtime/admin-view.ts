// What the runtime shows to those above it: the admin API reads the runtime only through
// AdminRuntime (a narrow read view and three commands), and services the runtime owns beside its
// listeners (the admin listener) implement RuntimeService. Types only: the admin depends on the
// runtime, never the other way round.
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
  readonly sessions: SessionInfo[];
}

/** What the admin API may ask of the runtime. */
export interface AdminRuntime {
  inspect(): RuntimeInspection;
  terminate(id: string): boolean;
  reload(trigger: string): Promise<ReloadOutcome>;
}

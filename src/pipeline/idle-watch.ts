// Idle checks on coarse shared timers: one setInterval per distinct interval for the whole
// runtime (IdleTimers, which the runtime owns and stops at shutdown), rather than a timer per
// socket or per session. Node re-arms a socket's timeout on every
// read and write (measured at about 5% of the egress proxy's plain-HTTP throughput), and a timer
// per session adds up with thousands of tunnels. Checks sample byte counters or state and compare
// against the monotonic clock (performance.now), so a limit fires up to one interval late.

type Check = (now: number) => void;

/** What a shared timer samples: an object rather than a closure, so a session costs no function. */
export interface IdleWatch {
  tick(now: number): void;
}

interface Group {
  readonly timer: NodeJS.Timeout;
  readonly watches: Set<IdleWatch>;
}

/** The interval timers of one runtime, one per distinct interval, and the checks on each. */
export class IdleTimers {
  private readonly groups = new Map<number, Group>();

  /** Calls `check(now)` every `everyMs` until the returned function is called (idempotent). */
  watch(everyMs: number, check: Check): () => void {
    const w: IdleWatch = { tick: check };
    this.add(everyMs, w);
    return () => this.remove(everyMs, w);
  }

  /** Calls `w.tick(now)` every `everyMs` until remove(everyMs, w). */
  add(everyMs: number, w: IdleWatch): void {
    let group = this.groups.get(everyMs);
    if (!group) {
      const watches = new Set<IdleWatch>();
      const timer = setInterval(() => {
        const now = performance.now();
        for (const c of watches) c.tick(now);
      }, everyMs);
      // Never what keeps the process alive.
      timer.unref();
      group = { timer, watches };
      this.groups.set(everyMs, group);
    }
    group.watches.add(w);
  }

  /** Stop calling `w`; idempotent. The interval stops with its last watch. */
  remove(everyMs: number, w: IdleWatch): void {
    const g = this.groups.get(everyMs);
    if (!g || !g.watches.delete(w) || g.watches.size > 0) return;
    clearInterval(g.timer);
    this.groups.delete(everyMs);
  }

  /** Intervals running now (for tests and leak checks). */
  get size(): number {
    return this.groups.size;
  }

  /** Clear every timer (the runtime's shutdown, after its sessions closed). */
  stop(): void {
    for (const g of this.groups.values()) {
      clearInterval(g.timer);
      g.watches.clear();
    }
    this.groups.clear();
  }
}

/**
 * How long a sampled mark (a byte count, a request count, the request in flight) has stayed the
 * same, as seen by the sweeps: the one rule the relay's, the front's and the upstream pool's idle
 * checks share.
 */
export class IdleClock {
  constructor(
    private since: number,
    private mark: unknown,
  ) {}

  /** 0 when `mark` changed since the last look (the idle time starts now), else how long it held. */
  idleFor(now: number, mark: unknown): number {
    if (mark !== this.mark) {
      this.mark = mark;
      this.since = now;
      return 0;
    }
    return now - this.since;
  }
}

/** A sampling interval for these limits: a quarter of the shortest, within 25 ms and 1 s. */
export function idleInterval(...limitsMs: number[]): number {
  const shortest = Math.min(...limitsMs.filter((t) => t > 0));
  return Number.isFinite(shortest) ? Math.max(25, Math.min(1000, Math.floor(shortest / 4))) : 1000;
}

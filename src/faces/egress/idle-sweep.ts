// One coarse timer for a proxy's idle checks (client keep-alive, first-head deadline, pooled and
// stalled upstream connections), running only while there is something to check. Timers per
// socket (socket.setTimeout) are re-armed by Node on every read and write, which on the plain-HTTP
// hot path cost about 5% of throughput; a sweep a few times per timeout costs nothing per request.

export class IdleSweep {
  private timer: NodeJS.Timeout | undefined;
  private runningEvery = 0;

  constructor(
    /** How often to sweep, read when the timer starts. */
    private readonly everyMs: () => number,
    /** One sweep; returns whether anything is left to watch (if not, the timer stops). */
    private readonly sweep: (now: number) => boolean,
  ) {}

  /** Something new to watch: make sure the timer runs. */
  wake(): void {
    if (this.timer) return;
    this.runningEvery = this.everyMs();
    this.timer = setInterval(() => {
      if (!this.sweep(Date.now())) this.stop();
    }, this.runningEvery);
    // Never what keeps the process alive.
    this.timer.unref();
  }

  /**
   * After a reload: restart at the new pace if the interval changed (only then: a restart puts the
   * next sweep off by a whole interval, and reloads may come often).
   */
  reset(): void {
    if (!this.timer || this.everyMs() === this.runningEvery) return;
    this.stop();
    this.wake();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** A sweep interval for these timeouts: a quarter of the shortest, within 25 ms and 1 s. */
export function sweepInterval(...timeouts: number[]): number {
  const shortest = Math.min(...timeouts.filter((t) => t > 0));
  return Number.isFinite(shortest) ? Math.max(25, Math.min(1000, Math.floor(shortest / 4))) : 1000;
}

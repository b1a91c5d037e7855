// A proxy's idle checks (client keep-alive, first-head deadline, pooled and stalled upstream
// connections) as one check on the shared idle timers (pipeline/idle-watch.ts), registered only
// while there is something to check.
import type { IdleTimers } from '../../pipeline/idle-watch.js';

export class IdleSweep {
  private unwatch: (() => void) | undefined;
  private runningEvery = 0;

  constructor(
    /** The runtime's timers, once the proxy has been handed a context. */
    private readonly timers: () => IdleTimers | undefined,
    /** How often to sweep, read when the sweep starts. */
    private readonly everyMs: () => number,
    /** One sweep (`now` from performance.now); returns whether anything is left to watch. */
    private readonly sweep: (now: number) => boolean,
  ) {}

  /** Something new to watch: make sure the sweep runs. */
  wake(): void {
    const timers = this.timers();
    if (this.unwatch || !timers) return;
    this.runningEvery = this.everyMs();
    this.unwatch = timers.watch(this.runningEvery, (now) => {
      if (!this.sweep(now)) this.stop();
    });
  }

  /**
   * After a reload: restart at the new pace if the interval changed (only then: a restart puts the
   * next sweep off by a whole interval, and reloads may come often).
   */
  reset(): void {
    if (!this.unwatch || this.everyMs() === this.runningEvery) return;
    this.stop();
    this.wake();
  }

  stop(): void {
    this.unwatch?.();
    this.unwatch = undefined;
  }
}

// One egress request or tunnel as the session registry sees it. A class rather than an object
// literal with getters and spreads: the literal form measured 3.3 µs per request to build and
// index, the class 0.3 µs, on a path that runs tens of thousands of times a second.
import type { CloseReason, Session } from '../../pipeline/session-registry.js';

export interface ByteCounts {
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
}

export class EgressSession implements Session {
  readonly face = 'egressProxy';

  constructor(
    readonly id: string,
    readonly listener: string,
    readonly source: string,
    readonly target: string,
    readonly identity: string | undefined,
    private readonly startMs: number,
    /** Read live: a relay's counters, or a plain object the request updates. */
    private readonly counts: ByteCounts,
    private readonly closer: (reason: CloseReason) => void,
  ) {}

  get startedAt(): Date {
    return new Date(this.startMs);
  }

  get bytesFromClient(): number {
    return this.counts.bytesFromClient;
  }

  get bytesToClient(): number {
    return this.counts.bytesToClient;
  }

  close(reason: CloseReason): void {
    this.closer(reason);
  }
}

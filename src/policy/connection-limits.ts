// Limits as decisions: may one more connection, request or session start, or has its listener,
// its source, its principal or its certificate reached what the config allows? Pure (no sockets,
// no clock of its own: the caller passes `now`), and bounded: a table per source or per principal
// holds an entry only while something is open, or, for the accept rate, while its token bucket
// refills; idle entries are evicted as new ones come (and past MAX_KEYS at once), so a flood of
// source addresses cannot grow it without bound.
//
// With `workers: N` each worker process holds its own tables, so the runtime gives each its share
// (`shareOf`): a limit divided by the workers, rounded up. The kernel (or the primary) spreads
// connections across workers, so a client can meet a refusal somewhat below the configured figure
// when its connections land unevenly, and never goes far above it.

export const LIMIT_REASONS = [
  'max_connections',
  'max_connections_per_source',
  'accept_rate',
  'max_concurrent',
  'max_concurrent_per_principal',
  'max_sessions_per_certificate',
] as const;
export type LimitReason = (typeof LIMIT_REASONS)[number];

/** The limit that decided, as a person reads it ("maxConnectionsPerSource 1000") and FILE:LINE of its key. */
export interface LimitRef {
  readonly text: string;
  readonly where: string;
}

export interface LimitDecision {
  readonly allowed: boolean;
  /** Set when refused. */
  readonly reason?: LimitReason;
  readonly rule?: LimitRef;
}

export const LIMIT_OK: LimitDecision = Object.freeze({ allowed: true });

/** One configured limit: its value in this process (0: none) and where it is written. */
export interface Limit {
  readonly max: number;
  readonly ref: LimitRef;
}

/** New connections per second, with a bucket of `burst` to take at once. */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
  readonly ref: LimitRef;
}

export interface AcceptLimits {
  /** Open connections on the listener. */
  readonly connections?: Limit | undefined;
  /** Open connections from one source. */
  readonly perSource?: Limit | undefined;
  /** New connections per second from one source (a token bucket). */
  readonly rate?: RateLimit | undefined;
}

/** Past this many keys at once the oldest idle one is evicted even while its bucket refills. */
export const MAX_KEYS = 65_536;

/** A worker's share of a limit: divided by the workers, rounded up (0 stays 0: no limit). */
export function shareOf(value: number, workers: number): number {
  return value <= 0 || workers <= 1 ? value : Math.ceil(value / workers);
}

interface SourceEntry {
  open: number;
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

function refused(reason: LimitReason, ref: LimitRef): LimitDecision {
  return { allowed: false, reason, rule: ref };
}

/**
 * The accept-time limits of one listener: open connections in all, open connections and the
 * rate of new ones per source. `admit` counts an admitted connection until `release`.
 */
export class AcceptGate {
  private limits: AcceptLimits = {};
  private open = 0;
  /** By source key, least recently touched first (a Map keeps insertion order). */
  private readonly sources = new Map<string, SourceEntry>();

  configure(limits: AcceptLimits): void {
    this.limits = limits;
  }

  /** Open connections admitted by this gate. */
  get connections(): number {
    return this.open;
  }

  /** Source entries held (open connections, or a bucket still refilling). */
  get sourceEntries(): number {
    return this.sources.size;
  }

  admit(source: string, now: number): LimitDecision {
    const { connections, perSource, rate } = this.limits;
    if (connections && connections.max > 0 && this.open >= connections.max)
      return refused('max_connections', connections.ref);
    const perKey = (perSource && perSource.max > 0) || rate;
    if (!perKey) {
      this.open++;
      return LIMIT_OK;
    }
    let e = this.sources.get(source);
    if (e)
      this.sources.delete(source); // re-inserted below: most recently touched last
    else e = { open: 0, tokens: rate ? rate.burst : 0, at: now };
    if (rate) {
      e.tokens = Math.min(rate.burst, e.tokens + ((now - e.at) * rate.perSecond) / 1000);
      e.at = now;
    }
    let decision = LIMIT_OK;
    if (perSource && perSource.max > 0 && e.open >= perSource.max)
      decision = refused('max_connections_per_source', perSource.ref);
    else if (rate && e.tokens < 1) decision = refused('accept_rate', rate.ref);
    else {
      if (rate) e.tokens -= 1;
      e.open++;
      this.open++;
    }
    this.sources.set(source, e);
    this.evict(now);
    return decision;
  }

  /** An admitted connection from `source` closed. */
  release(source: string): void {
    if (this.open > 0) this.open--;
    const e = this.sources.get(source);
    if (e && e.open > 0) e.open--;
  }

  /**
   * Look at the two least recently touched entries: drop one with nothing open whose bucket is
   * full again (it is the same as no entry), or any with nothing open past MAX_KEYS; move one
   * with open connections to the back, out of the way. Constant work per admission.
   */
  private evict(now: number): void {
    const rate = this.limits.rate;
    for (let k = 0; k < 2; k++) {
      const first = this.sources.entries().next();
      if (first.done) return;
      const [key, e] = first.value;
      if (e.open > 0) {
        this.sources.delete(key);
        this.sources.set(key, e);
        continue;
      }
      const full = !rate || e.tokens + ((now - e.at) * rate.perSecond) / 1000 >= rate.burst;
      if (!full && this.sources.size <= MAX_KEYS) return;
      this.sources.delete(key);
    }
  }
}

/**
 * Things open at once, in all and per key (an egress principal, a certificate): `acquire` counts
 * one until its `release`. A key's entry exists only while it has something open.
 */
export class ConcurrencyGate {
  private total: Limit | undefined;
  private perKey: Limit | undefined;
  private open = 0;
  private readonly byKey = new Map<string, number>();

  constructor(
    private readonly totalReason: LimitReason,
    private readonly keyReason: LimitReason,
  ) {}

  configure(total: Limit | undefined, perKey: Limit | undefined): void {
    this.total = total;
    this.perKey = perKey;
  }

  get count(): number {
    return this.open;
  }

  get keys(): number {
    return this.byKey.size;
  }

  acquire(key: string): LimitDecision {
    if (this.total && this.total.max > 0 && this.open >= this.total.max)
      return refused(this.totalReason, this.total.ref);
    const n = this.byKey.get(key) ?? 0;
    if (this.perKey && this.perKey.max > 0 && n >= this.perKey.max)
      return refused(this.keyReason, this.perKey.ref);
    this.byKey.set(key, n + 1);
    this.open++;
    return LIMIT_OK;
  }

  release(key: string): void {
    const n = this.byKey.get(key);
    if (n === undefined) return;
    if (n <= 1) this.byKey.delete(key);
    else this.byKey.set(key, n - 1);
    if (this.open > 0) this.open--;
  }
}

/**
 * One place held in a ConcurrencyGate, given back once however many times release() is called
 * (a session ends by more than one way). A class rather than a closure: one small object per
 * request or session.
 */
export class HeldSlot {
  private held = true;
  constructor(
    private readonly gate: ConcurrencyGate,
    private readonly key: string,
  ) {}

  release(): void {
    if (this.held) this.gate.release(this.key);
    this.held = false;
  }
}

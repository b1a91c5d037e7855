// Prometheus metrics of the egress proxies. The names are part of the interface.
import { Counter, Gauge, Registry } from 'prom-client';

/** One proxy's tallies, kept as plain numbers and read by prom-client at scrape time. */
class ProxyTally {
  inflight = 0;
  tunnels = 0;
  bytesFromClient = 0;
  bytesToClient = 0;
  /** kind → decision → reason → count */
  readonly requests = new Map<string, Map<string, Map<string, number>>>();
}

/**
 * The per-request counters are plain numbers read at scrape time (prom-client's collect()), not
 * prom-client calls: each of those hashes its label set, five times a request, which profiles put
 * at several microseconds on the proxy's hot path.
 */
export class EgressMetrics {
  readonly registry = new Registry();
  private readonly tallies = new Map<string, ProxyTally>();
  readonly requests: Counter<'proxy' | 'kind' | 'decision' | 'reason'>;
  readonly bytes: Counter<'proxy' | 'direction'>;
  readonly openTunnels: Gauge<'proxy'>;
  readonly inflight: Gauge<'proxy'>;
  readonly reloads = new Counter({
    name: 'gatehouse_egress_file_loads_total',
    help: 'Allowlist and htpasswd loads, by result (ok, error)',
    labelNames: ['proxy', 'kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly clientErrors = new Counter({
    name: 'gatehouse_egress_client_errors_total',
    help: 'Requests refused before a decision (400, 408, 431)',
    labelNames: ['proxy', 'status'] as const,
    registers: [this.registry],
  });

  constructor() {
    const tallies = this.tallies;
    this.requests = new Counter({
      name: 'gatehouse_egress_requests_total',
      help: 'Egress proxy requests by kind (http, connect, upgrade), decision and reason',
      labelNames: ['proxy', 'kind', 'decision', 'reason'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [proxy, t] of tallies)
          for (const [kind, byDecision] of t.requests)
            for (const [decision, byReason] of byDecision)
              for (const [reason, n] of byReason) this.inc({ proxy, kind, decision, reason }, n);
      },
    });
    this.bytes = new Counter({
      name: 'gatehouse_egress_bytes_total',
      help: 'Bytes relayed by egress proxies, by direction (from_client, to_client)',
      labelNames: ['proxy', 'direction'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [proxy, t] of tallies) {
          this.inc({ proxy, direction: 'from_client' }, t.bytesFromClient);
          this.inc({ proxy, direction: 'to_client' }, t.bytesToClient);
        }
      },
    });
    this.openTunnels = new Gauge({
      name: 'gatehouse_egress_open_tunnels',
      help: 'CONNECT and Upgrade tunnels open now',
      labelNames: ['proxy'] as const,
      registers: [this.registry],
      collect() {
        for (const [proxy, t] of tallies) this.set({ proxy }, t.tunnels);
      },
    });
    this.inflight = new Gauge({
      name: 'gatehouse_egress_inflight_requests',
      help: 'Plain HTTP requests being forwarded now',
      labelNames: ['proxy'] as const,
      registers: [this.registry],
      collect() {
        for (const [proxy, t] of tallies) this.set({ proxy }, t.inflight);
      },
    });
  }

  private tally(proxy: string): ProxyTally {
    let t = this.tallies.get(proxy);
    if (!t) this.tallies.set(proxy, (t = new ProxyTally()));
    return t;
  }

  countRequest(proxy: string, kind: string, decision: string, reason: string): void {
    const t = this.tally(proxy);
    let byDecision = t.requests.get(kind);
    if (!byDecision) t.requests.set(kind, (byDecision = new Map()));
    let byReason = byDecision.get(decision);
    if (!byReason) byDecision.set(decision, (byReason = new Map()));
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }

  countBytes(proxy: string, fromClient: number, toClient: number): void {
    const t = this.tally(proxy);
    t.bytesFromClient += fromClient;
    t.bytesToClient += toClient;
  }

  inflightChild(proxy: string): { inc(): void; dec(): void } {
    const t = this.tally(proxy);
    return {
      inc: () => void t.inflight++,
      dec: () => void t.inflight--,
    };
  }

  tunnelsChild(proxy: string): { inc(): void; dec(): void } {
    const t = this.tally(proxy);
    return {
      inc: () => void t.tunnels++,
      dec: () => void t.tunnels--,
    };
  }
}

// Prometheus metrics of the egress proxies. The names are part of the interface.
import { Counter, Gauge, Registry } from 'prom-client';

type Child = { inc(n?: number): void; dec?(n?: number): void };

export class EgressMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'gatehouse_egress_requests_total',
    help: 'Egress proxy requests by kind (http, connect, upgrade), decision and reason',
    labelNames: ['proxy', 'kind', 'decision', 'reason'] as const,
    registers: [this.registry],
  });
  readonly bytes = new Counter({
    name: 'gatehouse_egress_bytes_total',
    help: 'Bytes relayed by egress proxies, by direction (from_client, to_client)',
    labelNames: ['proxy', 'direction'] as const,
    registers: [this.registry],
  });
  readonly openTunnels = new Gauge({
    name: 'gatehouse_egress_open_tunnels',
    help: 'CONNECT and Upgrade tunnels open now',
    labelNames: ['proxy'] as const,
    registers: [this.registry],
  });
  readonly inflight = new Gauge({
    name: 'gatehouse_egress_inflight_requests',
    help: 'Plain HTTP requests being forwarded now',
    labelNames: ['proxy'] as const,
    registers: [this.registry],
  });
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

  // Label children are cached: looking labels up on every request is a measurable cost.
  private readonly children = new Map<string, Child>();

  private child(key: string, make: () => Child): Child {
    let c = this.children.get(key);
    if (!c) {
      c = make();
      this.children.set(key, c);
    }
    return c;
  }

  countRequest(proxy: string, kind: string, decision: string, reason: string): void {
    this.child(`r|${proxy}|${kind}|${decision}|${reason}`, () =>
      this.requests.labels({ proxy, kind, decision, reason }),
    ).inc();
  }

  countBytes(proxy: string, fromClient: number, toClient: number): void {
    this.child(`b|${proxy}|from`, () => this.bytes.labels({ proxy, direction: 'from_client' })).inc(
      fromClient,
    );
    this.child(`b|${proxy}|to`, () => this.bytes.labels({ proxy, direction: 'to_client' })).inc(toClient);
  }

  inflightChild(proxy: string): { inc(): void; dec(): void } {
    return this.inflight.labels({ proxy });
  }

  tunnelsChild(proxy: string): { inc(): void; dec(): void } {
    return this.openTunnels.labels({ proxy });
  }
}

// The runtime's own counters (what happens before a face sees a connection): kept as plain numbers
// and read by prom-client at scrape time, so the accept path pays nothing but an increment.
// Registered with the host's metrics hub, so one scrape sums every worker.
import { Counter, Registry } from 'prom-client';
import type { ProxyRefusal } from '../pipeline/proxy-header.js';

export class RuntimeMetrics {
  readonly registry = new Registry();
  /** "face|listener|reason" → count */
  private readonly proxyRefusals = new Map<string, number>();
  /** Accepting paused at the descriptor limit. */
  descriptorPauses = 0;

  constructor() {
    const refusals = this.proxyRefusals;
    new Counter({
      name: 'gatehouse_proxy_protocol_refusals_total',
      help: 'Connections closed before admission on a proxyProtocol listener, by reason (proxy_untrusted, proxy_header_missing, proxy_header_invalid, proxy_header_timeout)',
      labelNames: ['face', 'listener', 'reason'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [key, n] of refusals) {
          const [face = '', listener = '', reason = ''] = key.split('|');
          this.inc({ face, listener, reason }, n);
        }
      },
    });
    const pauses = () => this.descriptorPauses;
    new Counter({
      name: 'gatehouse_accept_pauses_total',
      help: 'Times accepting paused at the descriptor limit (EMFILE)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(pauses());
      },
    });
  }

  proxyRefused(face: string, listener: string, reason: ProxyRefusal): void {
    const key = `${face}|${listener}|${reason}`;
    this.proxyRefusals.set(key, (this.proxyRefusals.get(key) ?? 0) + 1);
  }
}

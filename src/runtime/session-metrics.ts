// The sessions of every face as Prometheus metrics: read at scrape time from the session registry
// of this process (its live sessions) and its outcomes (plain numbers the shared pipeline steps
// count), so the relay pays nothing per byte and a session pays two map lookups. The names and
// labels are an interface (docs/metrics.md). Label values come from the config (face, listener,
// endpoint) and from closed sets (reasons, error codes): never a client address or an identity.
//
// With workers, each worker's registry answers the primary's aggregation and every metric here is
// summed over them (prom-client's default aggregator), which is right for counters and for the
// active sessions alike.
import { Counter, Gauge, Registry } from 'prom-client';
import type { SessionRegistry } from '../pipeline/session-registry.js';

export function sessionMetrics(sessions: SessionRegistry): Registry {
  const registry = new Registry();
  const { outcomes } = sessions;

  new Counter({
    name: 'gatehouse_sessions_total',
    help: 'Sessions decided, by decision: allowed (let through by policy; opened, or its dial failed) or denied (refused by policy)',
    labelNames: ['face', 'listener', 'decision'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [face, byListener] of outcomes.sites)
        for (const [listener, t] of byListener) {
          this.inc({ face, listener, decision: 'allowed' }, t.allowed);
          this.inc({ face, listener, decision: 'denied' }, t.denied);
        }
    },
  });

  new Gauge({
    name: 'gatehouse_sessions_active',
    help: 'Sessions open now',
    labelNames: ['face', 'listener'] as const,
    registers: [registry],
    collect() {
      this.reset();
      // Every listener that has had a session shows, at 0 once they are gone.
      for (const [face, byListener] of outcomes.sites)
        for (const listener of byListener.keys()) this.set({ face, listener }, 0);
      for (const s of sessions.live()) this.inc({ face: s.face, listener: s.listener });
    },
  });

  new Counter({
    name: 'gatehouse_session_bytes_total',
    help: 'Bytes relayed, by direction (from_client, to_client): sessions that ended plus the live ones so far',
    labelNames: ['face', 'listener', 'direction'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [face, byListener] of outcomes.sites)
        for (const [listener, t] of byListener) {
          this.inc({ face, listener, direction: 'from_client' }, t.bytesFromClient);
          this.inc({ face, listener, direction: 'to_client' }, t.bytesToClient);
        }
      for (const s of sessions.live()) {
        const labels = { face: s.face, listener: s.listener };
        this.inc({ ...labels, direction: 'from_client' }, s.bytesFromClient);
        this.inc({ ...labels, direction: 'to_client' }, s.bytesToClient);
      }
    },
  });

  const byReason = (spec: {
    name: string;
    help: string;
    first: 'face' | 'endpoint';
    counts: ReadonlyMap<string, ReadonlyMap<string, number>>;
  }) =>
    new Counter({
      name: spec.name,
      help: spec.help,
      labelNames: [spec.first, 'reason'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [a, reasons] of spec.counts)
          for (const [reason, n] of reasons) this.inc({ [spec.first]: a, reason }, n);
      },
    });
  byReason({
    name: 'gatehouse_denials_total',
    help: 'Sessions refused by policy, by reason (security groups, authorization rules, allowlists, destination guard)',
    first: 'face',
    counts: outcomes.denials,
  });
  byReason({
    name: 'gatehouse_dial_failures_total',
    help: 'Allowed sessions whose target could not be reached, by error code',
    first: 'face',
    counts: outcomes.dialFailures,
  });
  byReason({
    name: 'gatehouse_handshake_failures_total',
    help: 'Access endpoint clients refused at the mTLS handshake: TLS errors and refused certificates, by reason',
    first: 'endpoint',
    counts: outcomes.handshakeFailures,
  });
  return registry;
}

// When the access endpoints' TLS material stops working, as Prometheus gauges: the CRL's
// nextUpdate (past it, TLS refuses every client) and the notAfter of the CA and of each server
// certificate in force. Read at scrape time from what the face holds. With workers every worker
// holds its own copy; the primary keeps the earliest (`aggregator: 'min'`): a worker still on an
// older CRL or certificate is the one that fails first.
import { Gauge, Registry } from 'prom-client';

export interface TlsMaterialView {
  /** The CRL in force's nextUpdate, when there is a CRL and it has one. */
  crlNextUpdate(): Date | undefined;
  /** name → notAfter: `ca` for the PKI's CA, the easy-rsa name of each server certificate. */
  certificateExpiries(): ReadonlyMap<string, Date>;
}

/**
 * A gauge without labels that shows no sample while it has no value. A prom-client Gauge would
 * show 0 (a CRL that expired in 1970) on a host with no access endpoint or no CRL yet. prom-client
 * takes any object with a name and get() (Registry.registerMetric, and the cluster aggregation
 * reads `aggregator` from what get() returns).
 */
function optionalGauge(
  registry: Registry,
  { name, help, read }: { name: string; help: string; read: () => number | undefined },
): void {
  const metric = {
    name,
    help,
    type: 'gauge',
    aggregator: 'min',
    get: () => {
      const value = read();
      return Promise.resolve({
        name,
        help,
        type: 'gauge',
        aggregator: 'min',
        values: value === undefined ? [] : [{ value, labels: {} }],
      });
    },
    reset: () => {},
  };
  registry.registerMetric(metric as unknown as Gauge);
}

export function tlsMetrics(view: TlsMaterialView): Registry {
  const registry = new Registry();
  optionalGauge(registry, {
    name: 'gatehouse_crl_next_update_timestamp_seconds',
    help: "The nextUpdate of the access endpoints' CRL in force, as a Unix time (past it, TLS refuses every client)",
    read: () => {
      const next = view.crlNextUpdate();
      return next ? next.getTime() / 1000 : undefined;
    },
  });
  new Gauge({
    name: 'gatehouse_certificate_expiry_timestamp_seconds',
    help: 'The notAfter of the CA (name "ca") and of each access endpoint server certificate in force, as a Unix time',
    labelNames: ['name'] as const,
    registers: [registry],
    aggregator: 'min',
    collect() {
      this.reset();
      for (const [name, notAfter] of view.certificateExpiries())
        this.set({ name }, notAfter.getTime() / 1000);
    },
  });
  return registry;
}

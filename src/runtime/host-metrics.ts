// What is one per host, as Prometheus metrics: the config in force and its reloads, and the
// clusters' discovery. They belong to the Host, so with workers they are the primary's alone (its
// own registry, beside the workers' sums): a worker's replica of the topology is never counted.
import { Counter, Gauge, Registry } from 'prom-client';
import type { ClusterRegistry } from '../cluster/registry.js';
import type { ReloadOutcome } from './admin-view.js';

/** How a reload ended: applied whole, applied with a listener that could not listen, or refused. */
export type ReloadResult = 'ok' | 'partial' | 'error';

export function reloadResult(o: ReloadOutcome): ReloadResult {
  if (o.ok) return 'ok';
  return o.report ? 'partial' : 'error';
}

export class HostMetrics {
  readonly registry = new Registry();
  /** Configs applied since start: 1 once the first is in force, one more per applied reload. */
  generation = 0;
  private readonly reloads: Record<ReloadResult, number> = { ok: 0, partial: 0, error: 0 };

  constructor(clusters: ClusterRegistry) {
    const reloads = this.reloads;
    const generation = () => this.generation;
    new Counter({
      name: 'gatehouse_config_reloads_total',
      help: 'Config reloads (file change, SIGHUP, admin API) by result: ok, partial (a listener could not listen), error (refused; the last good config stays)',
      labelNames: ['result'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [result, n] of Object.entries(reloads)) this.inc({ result }, n);
      },
    });
    new Gauge({
      name: 'gatehouse_config_generation',
      help: 'Configs applied since start (1 for the first)',
      registers: [this.registry],
      collect() {
        this.set(generation());
      },
    });
    new Gauge({
      name: 'gatehouse_cluster_nodes',
      help: 'Nodes (masters and replicas) in the topology of each configured cluster',
      labelNames: ['cluster'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of clusters.status()) this.set({ cluster: c.name }, c.nodes);
      },
    });
    new Gauge({
      name: 'gatehouse_cluster_refresh_age_seconds',
      help: 'Seconds since the topology of each cluster was last discovered (memcached: since its node list was taken from the config)',
      labelNames: ['cluster'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        const now = Date.now();
        // A cluster never discovered has no age to show (its node count says 0).
        for (const c of clusters.status())
          if (c.refreshedAt > 0) this.set({ cluster: c.name }, (now - c.refreshedAt) / 1000);
      },
    });
  }

  reloaded(outcome: ReloadOutcome): void {
    this.reloads[reloadResult(outcome)]++;
  }
}

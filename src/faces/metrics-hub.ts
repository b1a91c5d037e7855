// Where the faces' Prometheus registries are gathered, so one scrape shows the whole host: in one
// process the registries here, merged; in a worker, the primary's aggregation of every worker's
// registries (prom-client's AggregatorRegistry asks each worker over IPC and sums, workers/).
import { Registry } from 'prom-client';

export interface MetricsHub {
  /** A face's registry, part of every scrape from now on. */
  register(registry: Registry): void;
  /** The text exposition of every registered metric, summed over the host's processes. */
  scrape(): Promise<string>;
  readonly contentType: string;
}

export class LocalMetrics implements MetricsHub {
  private readonly registries = new Set<Registry>();
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;

  register(registry: Registry): void {
    this.registries.add(registry);
  }

  scrape(): Promise<string> {
    // A primary whose host has no registry of its own yet (nothing but workers) has nothing to
    // add; Registry.merge cannot take an empty list.
    if (this.registries.size === 0) return Promise.resolve('');
    return Registry.merge([...this.registries]).metrics();
  }
}

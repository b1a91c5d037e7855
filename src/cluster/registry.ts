// Live topology of every configured cluster, owned by the runtime. Redis clusters are discovered
// from their seeds (and from every node already known, so losing a seed loses nothing) and
// refreshed periodically and on demand (a MOVED seen by a relay); memcached and standalone node
// lists are taken as configured. Listeners are told after every change.
import type { Logger } from 'pino';
import type { ClusterConfig, Config } from '../config/schema.js';
import type { HostPort } from '../net/address.js';
import fs from 'node:fs';
import path from 'node:path';
import { discoverRedis, type DiscoveryCredentials } from './discovery.js';
import { staticTopology, type ClusterNode, type Topology } from './topology.js';

type Listener = (cluster: string, topology: Topology) => void;

/**
 * What faces read of cluster topology: the registry that discovers it (one process per host), or a
 * replica that the discovering process keeps current (a worker).
 */
export interface Topologies {
  topology(name: string): Topology | undefined;
  /** The index-th node, masters first: what a single fixed-port listener for a cluster dials. */
  node(name: string, index: number): ClusterNode | undefined;
  /** Ask for a refresh soon (debounced): a relay saw a sign that the topology moved. */
  refreshSoon(name: string): void;
  /** Called after every change of a cluster's topology; returns the unsubscribe. */
  onChange(listener: Listener): () => void;
}

/** The index-th node of a topology, masters first. */
export function nthNode(t: Topology | undefined, index: number): ClusterNode | undefined {
  const nodes = t?.nodes ?? [];
  const ordered = [
    ...nodes.filter((n) => n.role !== 'replica'),
    ...nodes.filter((n) => n.role === 'replica'),
  ];
  return ordered[index];
}

/** A topology's identity for change detection: who is where, with which role and slots. */
function signature(t: Topology): string {
  return t.nodes
    .map((n) => `${n.id}@${n.host}:${n.port}/${n.role}/${n.masterId ?? ''}/${n.slots.join(';')}/${n.healthy}`)
    .join('|');
}

class TrackedCluster {
  topology: Topology | undefined;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private lastRefresh = 0;
  /** Date.now() when discovery last answered (or a static list was taken); 0 before. */
  refreshedAt = 0;
  private stopped = false;

  constructor(
    readonly name: string,
    public config: ClusterConfig,
    public baseDir: string,
    private readonly log: Logger,
    private readonly changed: (t: Topology) => void,
  ) {}

  start(): Promise<void> {
    if (this.config.engine === 'memcached') {
      this.set(staticTopology('memcached', this.config.nodes));
      return Promise.resolve();
    }
    this.timer = setInterval(() => void this.refresh(), this.config.refreshInterval);
    this.timer.unref();
    return this.refresh();
  }

  private set(t: Topology): void {
    this.refreshedAt = Date.now();
    const before = this.topology && signature(this.topology);
    this.topology = t;
    if (before !== signature(t)) this.changed(t);
  }

  refresh(): Promise<void> {
    if (this.stopped || this.config.engine === 'memcached') return Promise.resolve();
    this.inFlight ??= (async () => {
      this.lastRefresh = Date.now();
      const known: HostPort[] = (this.topology?.nodes ?? []).map((n) => ({ host: n.host, port: n.port }));
      try {
        const t = await discoverRedis([...this.config.nodes, ...known], undefined, this.credentials());
        if (!this.stopped) this.set(t);
      } catch (err) {
        this.log.warn(
          { cluster: this.name, err: (err as Error).message },
          'cluster discovery failed; keeping the last topology',
        );
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }

  /** The discovery user's password, read at each refresh (a changed file is used at the next one). */
  private credentials(): DiscoveryCredentials | undefined {
    const auth = this.config.discoveryAuth;
    if (!auth) return undefined;
    const file = path.resolve(this.baseDir, auth.passwordFile);
    try {
      return { username: auth.user, password: fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '') };
    } catch (err) {
      this.log.warn(
        { cluster: this.name, file, err: (err as Error).message },
        'cluster discovery password file cannot be read; discovering without logging in',
      );
      return undefined;
    }
  }

  /** Refresh soon, at most every 250 ms however many relays ask (a MOVED storm is one refresh). */
  refreshSoon(): void {
    if (this.soon || this.stopped) return;
    const wait = Math.max(0, 250 - (Date.now() - this.lastRefresh));
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.refresh();
    }, wait);
    this.soon.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
  }
}

export class ClusterRegistry implements Topologies {
  private readonly clusters = new Map<string, TrackedCluster>();
  private readonly listeners = new Set<Listener>();

  constructor(private readonly log: Logger) {}

  /** Start, update or stop tracked clusters to match the config; resolves after first discoveries. */
  /** `baseDir` resolves relative password files (`discoveryAuth`): the config file's directory. */
  async reconcile(config: Config, baseDir = '.'): Promise<void> {
    const starting: Promise<void>[] = [];
    for (const [name, c] of this.clusters) {
      const next = config.clusters[name];
      if (!next || next.engine !== c.config.engine) {
        c.stop();
        this.clusters.delete(name);
      }
    }
    for (const [name, cfg] of Object.entries(config.clusters)) {
      const existing = this.clusters.get(name);
      if (existing) {
        const seedsChanged = JSON.stringify(existing.config) !== JSON.stringify(cfg);
        existing.config = cfg;
        existing.baseDir = baseDir;
        if (seedsChanged && cfg.engine === 'memcached') starting.push(existing.start());
        continue;
      }
      const tracked = new TrackedCluster(name, cfg, baseDir, this.log, (t) => {
        this.log.info(
          { cluster: name, nodes: t.nodes.map((n) => `${n.host}:${n.port}/${n.role}`) },
          'cluster topology',
        );
        for (const l of this.listeners) l(name, t);
      });
      this.clusters.set(name, tracked);
      starting.push(tracked.start());
    }
    await Promise.all(starting);
  }

  topology(name: string): Topology | undefined {
    return this.clusters.get(name)?.topology;
  }

  /** The index-th node, masters first: what a single fixed-port listener for a cluster dials. */
  node(name: string, index: number): ClusterNode | undefined {
    return nthNode(this.topology(name), index);
  }

  /** Every known topology, for replicas in other processes. */
  topologies(): [string, Topology][] {
    const out: [string, Topology][] = [];
    for (const [name, c] of this.clusters) if (c.topology) out.push([name, c.topology]);
    return out;
  }

  /** Each tracked cluster's node count and when its topology was last taken (for the metrics). */
  status(): { name: string; nodes: number; refreshedAt: number }[] {
    return [...this.clusters.values()].map((c) => ({
      name: c.name,
      nodes: c.topology?.nodes.length ?? 0,
      refreshedAt: c.refreshedAt,
    }));
  }

  refreshSoon(name: string): void {
    this.clusters.get(name)?.refreshSoon();
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    for (const c of this.clusters.values()) c.stop();
    this.clusters.clear();
  }
}

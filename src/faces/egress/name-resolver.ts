// The egress resolver: a name becomes one address to dial, without libuv's thread pool. dns.lookup()
// (getaddrinfo) runs on that pool of four threads, which also serves file I/O and crypto: a few
// names whose DNS server never answers hold every thread for seconds and stall the process. Here
// c-ares (dns.Resolver) asks the servers on the event loop, with:
//   - /etc/hosts first (read, and read again when it changes), as curl and Squid users expect;
//   - a cache bounded in entries, each kept for its record's TTL up to a ceiling (maxTtl);
//   - negative answers (no such name, no address) kept briefly (negativeTtl);
//   - one query in flight per name: concurrent lookups of a name wait for the same answer;
//   - a deadline: a lookup not answered within `timeout` fails with GH_ERR_DNS_TIMEOUT (504).
// No search domains are applied (Squid's default, dns_defnames off): names are looked up as written.
import dns from 'node:dns';
import fs from 'node:fs';
import { watchFile, type FileWatcher } from '../../config/watch.js';
import { GatehouseError } from '../../errors.js';
import { hostsAddress, parseHostsFile, type HostsTable } from '../../net/hosts-file.js';

export interface ResolverSettings {
  /** DNS servers ("10.0.0.2", "10.0.0.2:5353", "[2001:db8::53]:53"); undefined: /etc/resolv.conf's. */
  readonly servers: readonly string[] | undefined;
  /** Milliseconds a lookup may take in all. */
  readonly timeout: number;
  /** Names kept at most (positive and negative); 0 keeps none. */
  readonly cacheSize: number;
  /** Milliseconds an answer is kept at most, whatever its TTL. */
  readonly maxTtl: number;
  /** Milliseconds "no such name" and "no address" are kept. */
  readonly negativeTtl: number;
  /** The hosts file consulted first (absolute path), or undefined for none. */
  readonly hostsFile: string | undefined;
}

interface Entry {
  readonly address: string | undefined;
  readonly expires: number;
}

/** What resolve4/resolve6 call an answer with no such name or no record of that type. */
const NEGATIVE: ReadonlySet<string> = new Set([dns.NOTFOUND, dns.NODATA]);

function doesNotResolve(host: string, cause?: unknown): GatehouseError {
  return new GatehouseError('GH_ERR_DIAL_FAILED', [host], {
    ...(cause === undefined ? {} : { cause }),
    hint: `the name "${host}" does not resolve`,
  });
}

export class NameResolver {
  /** Made at the first question: a proxy that only ever meets IP literals holds no channel. */
  private channel: dns.promises.Resolver | undefined;
  private readonly cache = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<string>>();
  private hosts: HostsTable = new Map();
  private readonly watcher: FileWatcher | undefined;
  /** Queries sent to DNS servers (not counting hosts-file and cache answers). */
  queries = 0;

  constructor(readonly settings: ResolverSettings) {
    const file = settings.hostsFile;
    if (file) {
      this.readHosts(file);
      this.watcher = watchFile(file, () => this.readHosts(file));
    }
  }

  private readHosts(file: string): void {
    try {
      this.hosts = parseHostsFile(fs.readFileSync(file, 'utf8'));
    } catch {
      // A missing or unreadable hosts file is an empty one, as for getaddrinfo.
      this.hosts = new Map();
    }
  }

  /** The one address to dial for `host` (a lower-case name, not an IP literal). */
  lookup(host: string): Promise<string> {
    const fromHosts = hostsAddress(this.hosts, host);
    if (fromHosts !== undefined) return Promise.resolve(fromHosts);
    const hit = this.cache.get(host);
    if (hit) {
      if (hit.expires > Date.now()) {
        // Least recently used goes first: a hit moves to the back.
        this.cache.delete(host);
        this.cache.set(host, hit);
        return hit.address === undefined
          ? Promise.reject(doesNotResolve(host))
          : Promise.resolve(hit.address);
      }
      this.cache.delete(host);
    }
    let p = this.pending.get(host);
    if (!p) {
      p = this.query(host).finally(() => this.pending.delete(host));
      this.pending.set(host, p);
    }
    return p;
  }

  private remember(host: string, address: string | undefined, ttlMs: number): void {
    if (this.settings.cacheSize <= 0 || ttlMs <= 0) return;
    if (this.cache.size >= this.settings.cacheSize) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(host, { address, expires: Date.now() + ttlMs });
  }

  private resolver(): dns.promises.Resolver {
    if (this.channel) return this.channel;
    // c-ares shortens a server's timeout from the latency it has seen (to about a second) and drops
    // late answers to a try it has given up on; retries (one a second or so, as resolv.conf's
    // attempts) let a slow server and a lost UDP packet still be answered. The deadline in query()
    // is the bound, whatever c-ares does.
    this.channel = new dns.promises.Resolver({
      timeout: this.settings.timeout,
      tries: Math.max(1, Math.ceil(this.settings.timeout / 1000)),
    });
    if (this.settings.servers) this.channel.setServers([...this.settings.servers]);
    return this.channel;
  }

  private async query(host: string): Promise<string> {
    this.queries++;
    const resolver = this.resolver();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.settings.timeout);
    });
    // A and AAAA together; an IPv4 answer is preferred (most egress networks route v4).
    const answers = Promise.allSettled([
      resolver.resolve4(host, { ttl: true }),
      resolver.resolve6(host, { ttl: true }),
    ]);
    const r = await Promise.race([answers, deadline]);
    clearTimeout(timer);
    if (r === 'timeout')
      throw new GatehouseError('GH_ERR_DNS_TIMEOUT', [host, `${this.settings.timeout} ms`]);
    const [a, aaaa] = r;
    for (const answer of [a, aaaa]) {
      if (answer.status === 'fulfilled' && answer.value.length > 0) {
        const first = answer.value[0]!;
        const ttl = Math.min(...answer.value.map((x) => x.ttl)) * 1000;
        this.remember(host, first.address, Math.min(ttl, this.settings.maxTtl));
        return first.address;
      }
    }
    const codes = [a, aaaa].map((x) =>
      x.status === 'rejected' ? (x.reason as NodeJS.ErrnoException).code : dns.NODATA,
    );
    if (codes.some((c) => c === dns.TIMEOUT))
      throw new GatehouseError('GH_ERR_DNS_TIMEOUT', [host, `${this.settings.timeout} ms`]);
    // Both said "no such name" or "no address": a negative answer, kept briefly.
    if (codes.every((c) => c !== undefined && NEGATIVE.has(c)))
      this.remember(host, undefined, this.settings.negativeTtl);
    throw doesNotResolve(host, a.status === 'rejected' ? a.reason : undefined);
  }

  close(): void {
    this.watcher?.close();
    this.channel?.cancel();
  }
}

/**
 * The resolvers of a face's proxies: proxies with the same settings share one (and its cache); a
 * resolver no proxy uses after a snapshot is applied is closed (its hosts-file watcher stops).
 */
export class ResolverPool {
  private readonly byKey = new Map<string, NameResolver>();

  get(settings: ResolverSettings): NameResolver {
    const key = JSON.stringify(settings);
    let r = this.byKey.get(key);
    if (!r) {
      r = new NameResolver(settings);
      this.byKey.set(key, r);
    }
    return r;
  }

  /** Close every resolver not in `inUse`. */
  retain(inUse: Iterable<NameResolver>): void {
    const keep = new Set(inUse);
    for (const [key, r] of this.byKey)
      if (!keep.has(r)) {
        r.close();
        this.byKey.delete(key);
      }
  }
}

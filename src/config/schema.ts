// The config interface (docs/configuration.md) as one strict schema. Unknown keys are errors, values
// are normalised here (CIDRs, port sets, durations) so nothing downstream parses config text again,
// and every default lives in this file. The TypeScript types are inferred from it, not declared twice.
import { z } from 'zod';
import { parseCidr, parseIp, type Cidr } from '../net/cidr.js';
import { parsePortSet, parsePortRange, type PortSet, type PortRange } from '../net/ports.js';
import { isHostname, parseHostPort, parseHostPortRange, type HostPort } from '../net/address.js';
import { parseDuration } from './duration.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const name = z.string().regex(NAME, 'names use letters, digits, "_", "." and "-" (at most 63)');

function parsed<T>(parse: (s: string) => T | string) {
  return z.union([z.string(), z.number()]).transform((v, ctx): T => {
    const r = parse(String(v));
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r });
      return z.NEVER;
    }
    return r;
  });
}

const cidr = parsed<Cidr>(parseCidr);
const portSet = parsed<PortSet>(parsePortSet);
const hostPort = parsed<HostPort>(parseHostPort);
const duration = parsed<number>(parseDuration);

/** "0.0.0.0:8443", or a bare port meaning all addresses. */
const listenAddress = parsed<HostPort>((s) =>
  /^\d+$/.test(s) ? parseHostPort(`0.0.0.0:${s}`) : parseHostPort(s),
);

/** A listen address whose port may be a range: `lastPort` is the range's end (= port when single). */
export type ListenRange = HostPort & { readonly lastPort: number };
const listenRange = parsed<ListenRange>((s) => {
  const r = parseHostPortRange(/^\d+(-\d+)?$/.test(s) ? `0.0.0.0:${s}` : s);
  return typeof r === 'string' ? r : { host: r.host, port: r.ports[0], lastPort: r.ports[1] };
});

export type PeerRef = { kind: 'cidr'; cidr: Cidr } | { kind: 'group'; group: string };
const peer = z.string().transform((v, ctx): PeerRef => {
  if (v.startsWith('sg:')) {
    const group = v.slice(3);
    if (!NAME.test(group)) {
      ctx.addIssue({ code: 'custom', message: `"${v}" names no valid group; write sg:NAME` });
      return z.NEVER;
    }
    return { kind: 'group', group };
  }
  const r = parseCidr(v);
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: `${r}; write a CIDR such as 198.51.100.0/24, or sg:GROUP` });
    return z.NEVER;
  }
  return { kind: 'cidr', cidr: r };
});

/**
 * A PROXY protocol v2 header before the client's first byte, honoured only from these peers (the
 * load balancers): the client's address then stands for the connection's everywhere.
 */
const proxyProtocolKeys = {
  proxyProtocol: z.enum(['v2'], { message: 'proxyProtocol must be "v2" (the binary header)' }).optional(),
  trustedProxies: z.array(cidr).default([]),
};

/** "200/s", "600/m": new connections per second (0: no limit). */
const rate = parsed<number>((s) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|m))?\s*$/.exec(s);
  if (!m || (m[2] === undefined && Number(m[1]) !== 0))
    return `"${s}" is not a rate; write N/s or N/m, e.g. 200/s (0: no limit)`;
  return m[2] === 'm' ? Number(m[1]) / 60 : Number(m[1]);
});

const count = z.number().int().min(0, 'a limit is 0 (none) or more');

/**
 * What every listener admits at once and per source (docs/configuration.md, "Limits", says why
 * these defaults). 0 turns a limit off. With workers each process enforces its share.
 */
const listenerLimitKeys = {
  maxConnections: count.default(10_000),
  maxConnectionsPerSource: count.default(1000),
  acceptRate: rate.default(0),
  acceptBurst: z.number().int().min(1).default(1000),
};
const listenerLimits = z.strictObject(listenerLimitKeys);
const accessLimits = z.strictObject({ ...listenerLimitKeys, maxSessionsPerCertificate: count.default(1000) });
const egressLimits = z.strictObject({
  ...listenerLimitKeys,
  maxConcurrent: count.default(10_000),
  maxConcurrentPerPrincipal: count.default(1000),
});
export type ListenerLimitsConfig = z.output<typeof listenerLimits>;

const protocol = z.enum(['tcp'], { message: 'protocol must be "tcp" (the only one Gatehouse relays)' });

const ingressRule = z.strictObject({
  protocol: protocol.default('tcp'),
  ports: portSet,
  source: peer,
  description: z.string().optional(),
});

const egressRule = z.strictObject({
  protocol: protocol.default('tcp'),
  ports: portSet,
  destination: peer,
  description: z.string().optional(),
});

const securityGroup = z.strictObject({
  description: z.string().optional(),
  ingress: z.array(ingressRule).optional(),
  egress: z.array(egressRule).optional(),
  members: z.array(cidr).optional(),
});

const redisUserName = z
  .string()
  .regex(/^[!-~]{1,128}$/, 'a Redis user name is 1 to 128 printable characters, no spaces');

const cluster = z.strictObject({
  engine: z.enum(['redis', 'valkey', 'memcached']),
  nodes: z.array(hostPort).min(1, 'a cluster needs at least one node'),
  refreshInterval: duration.default(30_000),
  /** The ACL user Gatehouse's own discovery connections log in as (a cluster whose `default` is off). */
  discoveryAuth: z.strictObject({ user: redisUserName, passwordFile: z.string().min(1) }).optional(),
});

const authorizationRule = z
  .strictObject({
    target: cidr,
    ports: portSet.optional(),
    groups: z.array(name).min(1).optional(),
    allGroups: z.boolean().optional(),
    description: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    if ((r.groups === undefined) === (r.allGroups !== true)) {
      ctx.addIssue({
        code: 'custom',
        message: 'an authorization rule needs exactly one of `groups: [...]` or `allGroups: true`',
      });
    }
  });

/** A direct listener or endpoint target: host:port or cluster:NAME. */
export type TargetRef = { kind: 'address'; address: HostPort } | { kind: 'cluster'; cluster: string };
const targetRef = z.string().transform((v, ctx): TargetRef => {
  if (v.startsWith('cluster:')) return { kind: 'cluster', cluster: v.slice(8) };
  const r = parseHostPort(v);
  if (typeof r === 'string') {
    ctx.addIssue({ code: 'custom', message: `${r}; write HOST:PORT or cluster:NAME` });
    return z.NEVER;
  }
  return { kind: 'address', address: r };
});

/**
 * Login through an OpenID Connect provider: `gatehouse login` gets an ID token (code flow with PKCE
 * and a loopback redirect, or the device grant), the endpoint checks it and signs the client's own
 * key into a short-lived certificate from the login CA (pki/login-ca/). See docs/login.md.
 */
const oidcLogin = z.strictObject({
  issuer: z
    .string()
    .url('issuer must be a URL such as https://idp.example.com/realms/main')
    .refine((v) => {
      const u = new URL(v);
      return (
        u.protocol === 'https:' ||
        (u.protocol === 'http:' && /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/.test(u.hostname))
      );
    }, 'issuer must be https:// (plain http only on loopback, for a test provider)')
    .transform((v) => v.replace(/\/+$/, '')),
  clientId: z.string().min(1),
  /** A secret the provider insists on for this client; written into login profiles (not a secret from users). */
  clientSecretFile: z.string().optional(),
  scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope is one word'))
    .default(['openid', 'email', 'profile']),
  /** The ID token claim that lists the user's groups (a list, or one string). */
  groupsClaim: z.string().min(1).default('groups'),
  /** Provider groups that become certificate groups; a user in none of them is refused. */
  allowedGroups: z.array(name).min(1, 'list at least one group in allowedGroups'),
  /** The ID token claim that names the user (the certificate CN); a token without it: `sub`. */
  usernameClaim: z.string().min(1).default('email'),
  /** A fixed port for the loopback redirect, for providers that match redirect URIs exactly. */
  redirectPort: z.number().int().min(1).max(65535).optional(),
});

const accessLogin = z.strictObject({
  oidc: oidcLogin,
  /** How long a login certificate is valid. */
  certificateTtl: duration
    .default(8 * 3600_000)
    .refine((ms) => ms >= 60_000 && ms <= 31 * 86_400_000, 'certificateTtl must be between 1m and 31d'),
});

/**
 * A Redis user of a direct listener: the clients it is for (certificate groups, or common names)
 * and the ACL user Gatehouse logs in as on their node connections, with its password in a file.
 */
const redisUser = z
  .strictObject({
    groups: z.array(name).min(1).optional(),
    identities: z.array(z.string().min(1)).min(1).optional(),
    user: redisUserName,
    passwordFile: z.string().min(1),
    description: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    if ((r.groups === undefined) === (r.identities === undefined))
      ctx.addIssue({
        code: 'custom',
        message: 'a redisUsers entry needs exactly one of `groups: [...]` or `identities: [...]`',
      });
  });

const directListener = z.strictObject({
  listen: listenRange,
  target: targetRef,
  /** Log in to the target's nodes as the first matching entry's user; no match refuses the client. */
  redisUsers: z
    .array(redisUser)
    .min(1, 'redisUsers needs at least one entry; remove the key to relay without Redis users')
    .optional(),
});

const accessEndpoint = z.strictObject({
  listen: listenAddress,
  serverCertificate: name,
  securityGroups: z.array(name).default([]),
  authorizationRules: z.array(authorizationRule).default([]),
  /** `listen` may be a range ("0.0.0.0:6390-6399") for a cluster target: one port per node. */
  directListeners: z.array(directListener).default([]),
  connectionLog: z.boolean().default(true),
  /** Start without it when it cannot listen (otherwise `serve` fails to start). */
  optional: z.boolean().default(false),
  sessionTimeout: duration.default(12 * 3600_000),
  idleTimeout: duration.default(3600_000),
  connectTimeout: duration.default(10_000),
  /** Certificates by OpenID Connect login, served on the tunnel listener (POST /gatehouse/login). */
  login: accessLogin.optional(),
  limits: accessLimits.prefault({}),
  ...proxyProtocolKeys,
});

export type ForwardTarget =
  { kind: 'range'; host: string; ports: PortRange } | { kind: 'cluster'; cluster: string };
const portForward = z.strictObject({
  listen: parsed<PortRange>(parsePortRange),
  target: parsed(parseHostPortRange).optional(),
  cluster: name.optional(),
  description: z.string().optional(),
});

const portForwardGroup = z.strictObject({
  address: z
    .string()
    .default('0.0.0.0')
    .transform((v, ctx) => {
      const r = parseHostPort(`${v.includes(':') && !v.startsWith('[') ? `[${v}]` : v}:1`);
      if (typeof r === 'string') {
        ctx.addIssue({ code: 'custom', message: r });
        return z.NEVER;
      }
      return r.host;
    }),
  /** The gateway address cluster clients are sent to in rewritten replies (default: the one they dialed). */
  publicAddress: z
    .string()
    .refine(
      (v) => parseIp(v) !== undefined || isHostname(v),
      'publicAddress must be an IP address or a host name',
    )
    .optional(),
  securityGroups: z.array(name).default([]),
  forwards: z.array(portForward).min(1, 'a port forward group needs at least one forward'),
  /**
   * Who moves the bytes: Gatehouse's relay, or the kernel (nftables DNAT kept in sync with the
   * plan; root only). The kernel path has no idle timeout and counts bytes per session at close.
   */
  dataPath: z.enum(['userspace', 'kernel']).default('userspace'),
  /**
   * `full`: accepted, dialed and closed lines per session; `summary`: one `closed` line carrying
   * the admission decision too (refusals and failed dials are written either way).
   */
  connectionLog: z.enum(['full', 'summary']).default('full'),
  /** Start without it when it cannot listen (otherwise `serve` fails to start). */
  optional: z.boolean().default(false),

  connectTimeout: duration.default(5_000),
  idleTimeout: duration.default(3600_000),
  limits: listenerLimits.prefault({}),
  ...proxyProtocolKeys,
});

/** A DNS server as c-ares takes it: an IP address, with a port after it when not 53. */
const dnsServer = z.string().transform((v, ctx): string => {
  const ip = parseIp(v);
  if (ip) return v;
  const hp = parseHostPort(v);
  if (typeof hp === 'string' || !parseIp(hp.host)) {
    ctx.addIssue({
      code: 'custom',
      message: `"${v}" is not a DNS server; write an IP address, "10.0.0.2:5353" or "[2001:db8::53]:53"`,
    });
    return z.NEVER;
  }
  return v;
});

/** Defaults of the egress resolver (top-level `resolver`; a proxy's own `resolver` overrides key by key). */
export const RESOLVER_DEFAULTS = {
  timeout: 5_000,
  cacheSize: 10_000,
  maxTtl: 300_000,
  negativeTtl: 30_000,
  hostsFile: '/etc/hosts',
} as const;

const resolverKeys = {
  /** Absent: the servers of /etc/resolv.conf. */
  servers: z.array(dnsServer).min(1, 'list at least one server, or leave `servers` out').optional(),
  timeout: duration.refine((v) => v > 0, 'the resolver timeout must be above 0'),
  cacheSize: z.number().int().min(0).max(10_000_000),
  maxTtl: duration,
  negativeTtl: duration,
  /** `none`: no hosts file. */
  hostsFile: z.string().min(1),
};

const resolver = z.strictObject({
  servers: resolverKeys.servers,
  timeout: resolverKeys.timeout.default(RESOLVER_DEFAULTS.timeout),
  cacheSize: resolverKeys.cacheSize.default(RESOLVER_DEFAULTS.cacheSize),
  maxTtl: resolverKeys.maxTtl.default(RESOLVER_DEFAULTS.maxTtl),
  negativeTtl: resolverKeys.negativeTtl.default(RESOLVER_DEFAULTS.negativeTtl),
  hostsFile: resolverKeys.hostsFile.default(RESOLVER_DEFAULTS.hostsFile),
});

/** A proxy's own resolver: each key it names replaces the top-level one. */
const proxyResolver = z.strictObject({
  servers: resolverKeys.servers,
  timeout: resolverKeys.timeout.optional(),
  cacheSize: resolverKeys.cacheSize.optional(),
  maxTtl: resolverKeys.maxTtl.optional(),
  negativeTtl: resolverKeys.negativeTtl.optional(),
  hostsFile: resolverKeys.hostsFile.optional(),
});

/** Squid's default Safe_ports: the ports a plain HTTP request may name. */
export const SQUID_SAFE_PORTS = '80,21,443,70,210,1025-65535,280,488,591,777';

/** An egress policy: who it serves (users and/or source networks) and the allowlist they get. */
const egressPolicy = z
  .strictObject({
    name: name,
    users: z.array(z.string().min(1)).min(1).optional(),
    sources: z.array(cidr).min(1).optional(),
    allowlist: z.string(),
    description: z.string().optional(),
  })
  .superRefine((p, ctx) => {
    if (!p.users && !p.sources)
      ctx.addIssue({
        code: 'custom',
        message:
          'a policy needs `users: [...]`, `sources: [...]` or both; the top-level allowlist serves everyone else',
      });
  });

const egressAccessLog = z.union([
  z.string().transform((path) => ({ path, format: 'squid' as const })),
  z.strictObject({ path: z.string(), format: z.enum(['squid', 'json']).default('squid') }),
]);

const egressProxy = z.strictObject({
  listen: listenAddress,
  allowlist: z.string().optional(),
  policies: z.array(egressPolicy).default([]),
  auth: z.strictObject({ htpasswd: z.string(), realm: z.string().default('gatehouse') }).optional(),
  securityGroups: z.array(name).default([]),
  denyPrivateDestinations: z.boolean().default(true),
  unsafeAllowPrivateDestinations: z.array(cidr).default([]),
  connectPorts: portSet.default(parsePortSet('443') as PortSet),
  httpPorts: portSet.default(parsePortSet(SQUID_SAFE_PORTS) as PortSet),
  reportOnly: z.boolean().default(false),
  accessLog: egressAccessLog.optional(),
  metrics: z.boolean().default(true),
  /** Start without it when it cannot listen (otherwise `serve` fails to start). */
  optional: z.boolean().default(false),
  maxHeaderSize: z
    .number()
    .int()
    .min(1024)
    .max(1024 * 1024)
    .default(65536),
  headersTimeout: duration.default(30_000),
  idleTimeout: duration.default(300_000),
  connectTimeout: duration.default(10_000),
  limits: egressLimits.prefault({}),
  /** The TLS server name inside a CONNECT tunnel must be the CONNECT host (no domain fronting). */
  sniMustMatch: z.boolean().default(true),
  /** A tunnel without SNI (or not TLS): absent, allowed for IP literal targets and denied for names. */
  sniMissing: z.enum(['allow', 'deny']).optional(),
  resolver: proxyResolver.optional(),
  ...proxyProtocolKeys,
});

const admin = z.strictObject({
  listen: listenAddress.default(parseHostPort('127.0.0.1:9480') as HostPort),
  token: z.string().min(16, 'an admin token needs at least 16 characters').optional(),
  tokenFile: z.string().optional(),
  enabled: z.boolean().default(true),
  /** Start without it when it cannot listen (otherwise `serve` fails to start). */
  optional: z.boolean().default(false),
});

const audit = z.strictObject({
  store: z.string().default('./gatehouse-audit.db'),
  log: z.string().default('stdout'),
  retention: z
    .strictObject({ maxAge: duration.optional(), maxRows: z.number().int().positive().optional() })
    .default({}),
});

/** `auto` (the cores this process may use) or a count; 1 is one process with no primary. */
const workers = z.union([z.literal('auto'), z.number().int().min(1).max(256)]);

/**
 * Shared state between replicas behind one load balancer: audit events, live sessions, CRLs and
 * cluster port maps in one PostgreSQL database. Absent: every replica stands alone.
 */
const fleet = z.strictObject({
  postgres: z.string().regex(/^postgres(ql)?:\/\//, 'postgres must be a postgres:// or postgresql:// URL'),
  /** A file holding the password (read at start), so the URL in the config can leave it out. */
  passwordFile: z.string().optional(),
  /** This replica's name in session lists and the audit table; default: the host name. */
  replicaId: name.optional(),
});

/** /livez, /readyz and /metrics for load balancers, kubelets and Prometheus, without a token. */
const health = z.strictObject({
  listen: listenAddress,
  /** Start without it when it cannot listen (otherwise `serve` fails to start). */
  optional: z.boolean().default(false),
});

export const configSchema = z.strictObject({
  workers: workers.default('auto'),
  health: health.optional(),
  /** After SIGTERM: /readyz fails at once, listeners keep accepting this long (the balancer's turn to notice). */
  drainDelay: duration.default(0),
  /** After the drain delay: how long sessions may finish before they are closed with reason `shutdown`. */
  shutdownTimeout: duration.default(5000),
  fleet: fleet.optional(),
  pki: z.string().default('./pki'),
  securityGroups: z.record(name, securityGroup).default({}),
  clusters: z.record(name, cluster).default({}),
  accessEndpoints: z.record(name, accessEndpoint).default({}),
  portForwards: z.record(name, portForwardGroup).default({}),
  /** How egress proxies resolve names (each proxy may override keys with its own `resolver`). */
  resolver: resolver.default({ ...RESOLVER_DEFAULTS }),
  egressProxies: z.record(name, egressProxy).default({}),
  admin: admin.default({
    listen: parseHostPort('127.0.0.1:9480') as HostPort,
    enabled: true,
    optional: false,
  }),
  audit: audit.default({ store: './gatehouse-audit.db', log: 'stdout', retention: {} }),
});

export type Config = z.output<typeof configSchema>;
export type SecurityGroupConfig = z.output<typeof securityGroup>;
export type IngressRuleConfig = z.output<typeof ingressRule>;
export type EgressRuleConfig = z.output<typeof egressRule>;
export type PortForwardGroupConfig = z.output<typeof portForwardGroup>;
export type PortForwardConfig = z.output<typeof portForward>;
export type AccessEndpointConfig = z.output<typeof accessEndpoint>;
export type ResolverConfig = z.output<typeof resolver>;
export type AccessLoginConfig = z.output<typeof accessLogin>;
export type EgressProxyConfig = z.output<typeof egressProxy>;
export type EgressPolicyConfig = z.output<typeof egressPolicy>;
export type ClusterConfig = z.output<typeof cluster>;
export type DirectListenerConfig = z.output<typeof directListener>;
export type RedisUserConfig = z.output<typeof redisUser>;

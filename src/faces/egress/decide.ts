// Everything before the dial, for a plain request and a tunnel alike: identify (Basic proxy auth
// against the live htpasswd), decide (ports, allowlist), resolve once, hold the address against the
// destination guard and the security groups. The answer is Ready (dial exactly this address),
// denied or an error. Cut here because every traffic path asks this same question and differs
// only in what it does with the answer; nothing here writes to a socket. The memo of parsed hosts,
// addresses and sources is here too, beside the code that reads it.
import { clientOf } from '../../pipeline/proxy-header.js';
import { sourceKey } from '../../pipeline/limits.js';
import type { Socket } from 'node:net';
import ipaddr from 'ipaddr.js';
import { parseIp, type IpAddress } from '../../net/cidr.js';
import { parseBasic } from '../../auth/htpasswd.js';
import { normalizeHost, type InvalidHost, type NormalizedHost } from '../../policy/egress-host.js';
import { decideDestination, decideEgressRequest, type EgressDecision } from '../../policy/egress-decision.js';
import { decideEgress } from '../../policy/security-groups.js';
import type { FaceContext } from '../context.js';
import type { ProxySettings } from './compile.js';
import type { ProxyRequest } from './fast-front.js';
import type { EgressFiles } from './files.js';
import type { NameResolver } from './name-resolver.js';
import type { ProxyTarget } from './request.js';

export type Prepared = Ready | { denied: EgressDecision; user?: string | undefined } | { error: unknown };

export interface Ready {
  readonly address: string;
  readonly ip: IpAddress;
  readonly decision: EgressDecision;
  readonly user: string | undefined;
  /**
   * Its place in the proxy's concurrency limits (proxy-state.ts takeSlot), given back when it ends.
   * Set on the Ready itself once taken (check() makes every Ready with it unset, one shape): a
   * copy with the slot spread in was a measurable share of a plain request.
   */
  slot: Slot | undefined;
}

export interface Slot {
  release(): void;
}

/** What deciding reads of its proxy (EgressProxy): settings and files follow the snapshot. */
export interface Decider {
  readonly settings: ProxySettings;
  readonly files: EgressFiles;
  readonly ctx: FaceContext | undefined;
  readonly memo: ParseMemo;
  /** The proxy's resolver (name-resolver.ts): one lookup per decision, off the thread pool. */
  readonly resolver: NameResolver;
}

/**
 * Parsing addresses and hosts is a measurable share of a request; the values are pure functions
 * of the text, so they are memoised here, one memo per proxy (bounded, cleared when full).
 */
export class ParseMemo {
  private readonly hosts = new Map<string, NormalizedHost | InvalidHost>();
  private readonly addresses = new Map<string, { raw: ipaddr.IPv4 | ipaddr.IPv6; ip: IpAddress }>();
  private readonly sources = new WeakMap<object, IpAddress>();
  private readonly sourceKeys = new WeakMap<object, string>();
  readonly normalize = (host: string): NormalizedHost | InvalidHost => {
    let h = this.hosts.get(host);
    if (!h) {
      if (this.hosts.size >= 4096) this.hosts.clear();
      h = normalizeHost(host);
      this.hosts.set(host, h);
    }
    return h;
  };

  address(text: string): { raw: ipaddr.IPv4 | ipaddr.IPv6; ip: IpAddress } {
    let a = this.addresses.get(text);
    if (!a) {
      if (this.addresses.size >= 4096) this.addresses.clear();
      const raw = ipaddr.parse(text);
      a = { raw, ip: parseIp(text) ?? raw };
      this.addresses.set(text, a);
    }
    return a;
  }

  /**
   * The concurrency-limit key of a client without a user: its address (an IPv6 one by /64), once
   * per connection rather than parsed again for every request on it.
   */
  sourceKeyOf(socket: Socket): string {
    let key = this.sourceKeys.get(socket);
    if (key === undefined) {
      key = `source:${sourceKey(clientOf(socket).address)}`;
      this.sourceKeys.set(socket, key);
    }
    return key;
  }

  sourceOf(socket: Socket): IpAddress {
    let ip = this.sources.get(socket);
    if (!ip) {
      ip = parseIp(clientOf(socket).address ?? '') ?? (parseIp('0.0.0.0') as IpAddress);
      this.sources.set(socket, ip);
    }
    return ip;
  }
}

/**
 * Everything before the dial: auth, ports and allowlist, one lookup, the guard, security groups.
 * Synchronous when nothing needs waiting for (no proxy auth, an IP literal): most requests then
 * decide without a promise.
 */
export function prepare(
  p: Decider,
  req: ProxyRequest,
  connect: boolean,
  target: ProxyTarget,
): Prepared | Promise<Prepared> {
  if (!p.settings.auth) return decide(p, req, connect, target, undefined);
  return identify(p, req).then((id) => ('denied' in id ? id : decide(p, req, connect, target, id.user)));
}

async function identify(
  p: Decider,
  req: ProxyRequest,
): Promise<{ user: string | undefined } | { denied: EgressDecision }> {
  const auth = p.settings.auth;
  if (!auth) return { user: undefined };
  const creds = parseBasic(req.proxyAuthorization);
  if (!creds) return { denied: { allowed: false, reason: 'auth_required' } };
  const verifier = p.files.htpasswd;
  if (!verifier || !(await verifier.verify(creds.user, creds.password)))
    return { denied: { allowed: false, reason: 'auth_failed' } };
  return { user: creds.user };
}

function decide(
  p: Decider,
  req: ProxyRequest,
  connect: boolean,
  target: ProxyTarget,
  user: string | undefined,
): Prepared | Promise<Prepared> {
  const decision = decideEgressRequest(p.settings.rules, p.files.lists, {
    connect,
    host: target.host,
    port: target.port,
    user,
    source: p.memo.sourceOf(req.socket),
  });
  if (!decision.allowed || target.host.kind === 'invalid') return { denied: decision, user };
  if (target.host.kind === 'ip') return check(p, target, target.host.text, decision, user);
  // The address resolved here is the one guarded below and the one dialed: never looked up again.
  return p.resolver.lookup(target.host.text).then(
    (address) => check(p, target, address, decision, user),
    (error: unknown) => ({ error }),
  );
}

/** The resolved address against the destination guard and the security groups. */
function check(
  p: Decider,
  target: ProxyTarget,
  address: string,
  decision: EgressDecision,
  user: string | undefined,
): Prepared {
  const { raw, ip } = target.host.kind === 'ip' ? target.host : p.memo.address(address);
  const guard = decideDestination(raw, p.settings.guard);
  if (!guard.allowed)
    return { denied: { ...guard, ...(decision.policy ? { policy: decision.policy } : {}) }, user };
  const sg = decideEgress(p.ctx!.policy, p.settings.groups, ip, target.port);
  if (!sg.allowed)
    return {
      denied: {
        allowed: false,
        reason: 'security_group_egress_denied',
        rule: {
          text: sg.rule?.text ?? `security groups ${sg.groups.join(', ')}`,
          where: sg.rule?.where ?? 'securityGroups',
        },
      },
      user,
    };
  return { address, ip, decision, user, slot: undefined };
}

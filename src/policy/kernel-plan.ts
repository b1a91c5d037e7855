// The kernel data path for plain TCP forwards: what nftables should DNAT, computed from the same
// forward plan and security groups as the userspace relay. Pure: plan in, ruleset text out.
//
// Admitted sources are DNATed by the kernel straight to the target; everything else falls through
// to Gatehouse's own listener on the same port, which refuses it and writes the audit line. So a
// rule missing here (an IPv6 or named target, an egress denial) never opens anything: it only
// sends the connection the slower way.
import type { Cidr } from '../net/cidr.js';
import { parseIp } from '../net/cidr.js';
import { formatHostPort } from '../net/address.js';
import { portSetHas } from '../net/ports.js';
import type { Config } from '../config/schema.js';
import type { ForwardPlanEntry } from './forward-plan.js';
import { decideEgress, type SecurityPolicy } from './security-groups.js';

export interface KernelRule {
  readonly bind: { host: string; port: number };
  readonly target: { host: string; port: number };
  /** IPv4 sources to DNAT; 'any' when the listener has no security groups. */
  readonly admitted: readonly Cidr[] | 'any';
  readonly where: string;
}

export interface KernelPlan {
  readonly rules: readonly KernelRule[];
  readonly skipped: readonly { bind: string; reason: string }[];
}

/** Ingress CIDRs of `groups` that admit `port`, resolved through sg: references. */
function admittedSources(config: Config, groups: readonly string[], port: number): Cidr[] {
  const out: Cidr[] = [];
  for (const name of groups) {
    for (const rule of config.securityGroups[name]?.ingress ?? []) {
      if (!portSetHas(rule.ports, port)) continue;
      const peers =
        rule.source.kind === 'cidr'
          ? [rule.source.cidr]
          : (config.securityGroups[rule.source.group]?.members ?? []);
      for (const p of peers) if (p.address.kind() === 'ipv4') out.push(p);
    }
  }
  return out;
}

export function planKernelForwards(
  config: Config,
  policy: SecurityPolicy,
  entries: readonly ForwardPlanEntry[],
  resolveCluster: (entry: ForwardPlanEntry) => { host: string; port: number } | undefined,
): KernelPlan {
  const rules: KernelRule[] = [];
  const skipped: { bind: string; reason: string }[] = [];
  for (const e of entries) {
    const bind = formatHostPort(e.bind.host, e.bind.port);
    if (e.target.kind === 'cluster' && config.clusters[e.target.cluster]?.engine !== 'memcached') {
      // Redis replies name nodes: they must pass the rewriting relay, so the kernel stays out.
      skipped.push({ bind, reason: 'Redis cluster replies are rewritten in userspace' });
      continue;
    }
    const target = e.target.kind === 'address' ? e.target.address : resolveCluster(e);
    const ip = target && parseIp(target.host);
    const bindIp = parseIp(e.bind.host);
    if (!target || !ip || ip.kind() !== 'ipv4' || !bindIp || bindIp.kind() !== 'ipv4') {
      skipped.push({
        bind,
        reason: 'the kernel path takes IPv4 literal binds and targets; relayed in userspace',
      });
      continue;
    }
    if (!decideEgress(policy, e.groups, ip, target.port).allowed) {
      skipped.push({ bind, reason: 'egress denies the target; refused in userspace' });
      continue;
    }
    const admitted = e.groups.length === 0 ? 'any' : admittedSources(config, e.groups, e.bind.port);
    if (admitted !== 'any' && admitted.length === 0) {
      skipped.push({ bind, reason: 'no IPv4 source is admitted; refused in userspace' });
      continue;
    }
    rules.push({
      bind: e.bind,
      target: { host: ip.toString(), port: target.port },
      admitted,
      where: e.where,
    });
  }
  return { rules, skipped };
}

export interface RenderOptions {
  readonly table: string;
  /** conntrack mark put on every DNATed flow, so sessions can be followed. */
  readonly mark: number;
}

/**
 * One nftables transaction that replaces the whole table: applying it is atomic, and existing
 * flows keep their NAT binding (conntrack), so a reload drops no session.
 */
export function renderNftables(plan: KernelPlan, opts: RenderOptions): string {
  const sets: string[] = [];
  const dnat: string[] = [];
  plan.rules.forEach((r, i) => {
    let match = `tcp dport ${r.bind.port}`;
    match += r.bind.host === '0.0.0.0' ? ' fib daddr type local' : ` ip daddr ${r.bind.host}`;
    if (r.admitted !== 'any') {
      sets.push(
        `  set adm_${i} {\n    type ipv4_addr; flags interval; auto-merge\n    elements = { ${r.admitted.map((c) => c.text).join(', ')} }\n  }`,
      );
      match += ` ip saddr @adm_${i}`;
    }
    // Only a connection's first SYN is translated: a flow whose conntrack entry is deleted (a
    // terminated session) is not picked up again mid-stream, so its next packet meets a reset.
    dnat.push(
      `    ${match} tcp flags & (syn | ack) == syn ct mark set ${opts.mark} dnat ip to ${r.target.host}:${r.target.port} comment "${r.where.replace(/"/g, '')}"`,
    );
  });
  const chain = (name: string, hook: string, priority: string, body: string[]) =>
    `  chain ${name} {\n    type nat hook ${hook} priority ${priority}; policy accept;\n${body.join('\n')}\n  }`;
  return [
    `add table ip ${opts.table}`,
    `delete table ip ${opts.table}`,
    `table ip ${opts.table} {`,
    ...sets,
    chain('prerouting', 'prerouting', 'dstnat', dnat),
    chain('output', 'output', '-100', dnat),
    // Replies from a target on another network must come back through the gateway, as through a
    // NAT instance; loopback targets need no source rewrite.
    chain('postrouting', 'postrouting', 'srcnat', [`    ct mark ${opts.mark} oifname != "lo" masquerade`]),
    `}`,
    '',
  ].join('\n');
}

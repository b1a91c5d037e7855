// Things that are valid but deserve a second look, printed by `validate` and at (re)load.
import type { LoadedConfig } from './load.js';

export function configWarnings(loaded: LoadedConfig): string[] {
  const { config, source } = loaded;
  const out: string[] = [];
  for (const [name, pf] of Object.entries(config.portForwards)) {
    if (pf.securityGroups.length === 0)
      out.push(
        `${source.where(['portForwards', name])}: warning: port forward group "${name}" has no security groups, so any source that reaches it is admitted; add securityGroups`,
      );
  }
  for (const [name, ep] of Object.entries(config.egressProxies)) {
    if (ep.securityGroups.length === 0 && !ep.auth)
      out.push(
        `${source.where(['egressProxies', name])}: warning: egress proxy "${name}" has neither security groups nor auth, so any source that reaches it may use it`,
      );
  }
  for (const [name, g] of Object.entries(config.securityGroups)) {
    g.ingress?.forEach((r, i) => {
      if (r.source.kind === 'group' && (config.securityGroups[r.source.group]?.members ?? []).length === 0)
        out.push(
          `${source.where(['securityGroups', name, 'ingress', i, 'source'])}: warning: sg:${r.source.group} has no members, so this rule admits nobody`,
        );
    });
  }
  return out;
}

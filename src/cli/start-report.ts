// What `serve` says once it has tried to start: which parts could not (a face's listener, the admin
// API, the health listener) and whether that stops the start (the default) or is only a warning
// (`optional: true` beside them); and, once ready, what is served where.
import type { LoadedConfig } from '../config/load.js';
import { listConfiguredListeners } from '../config/listeners.js';
import { GatehouseError } from '../errors.js';
import { formatHostPort } from '../net/address.js';
import type { ApplyReport } from '../runtime/runtime.js';

interface Service {
  failure(): string | undefined;
}

export interface StartFailure {
  readonly what: string;
  readonly why: string;
  readonly error: GatehouseError;
}

/** The config section of a face (`portForwards.nat`) and whether it is marked optional. */
function faceOptional(loaded: LoadedConfig, section: string, name: string): boolean {
  const c = loaded.config;
  if (section === 'portForwards') return c.portForwards[name]?.optional === true;
  if (section === 'accessEndpoints') return c.accessEndpoints[name]?.optional === true;
  if (section === 'egressProxies') return c.egressProxies[name]?.optional === true;
  return false;
}

export function startFailures(
  loaded: LoadedConfig,
  report: ApplyReport,
  admin: Service,
  health: Service,
): { required: StartFailure[]; optional: StartFailure[] } {
  const required: StartFailure[] = [];
  const optional: StartFailure[] = [];
  const listeners = listConfiguredListeners(loaded.config);
  for (const f of report.failed) {
    const l = listeners.find((x) => formatHostPort(x.bind.host, x.bind.port) === f.bind);
    const [section, name] = (l?.path ?? []) as string[];
    const what = l ? `${l.what} (${loaded.source.where(l.path)})` : f.bind;
    const error = new GatehouseError('GH_ERR_LISTEN', [f.bind], {
      details: [`${what}: ${f.error}`],
      hint: `free the port or change the listen address${section && name ? `; or set optional: true on ${section}.${name} to start without it` : ''}`,
    });
    (section && name && faceOptional(loaded, section, name) ? optional : required).push({
      what,
      why: f.error,
      error,
    });
  }
  const services: [string, Service, boolean][] = [
    ['admin', admin, loaded.config.admin.optional],
    ['health', health, loaded.config.health?.optional ?? false],
  ];
  for (const [key, service, isOptional] of services) {
    const why = service.failure();
    if (!why) continue;
    const what =
      key === 'admin' ? 'the admin API and console (admin.listen)' : 'the health listener (health.listen)';
    const error = new GatehouseError('GH_ERR_SERVICE_START', [what, why]);
    (isOptional ? optional : required).push({ what, why, error });
  }
  return { required, optional };
}

/**
 * What is served, one line per configured listener ("portForward portForwards.local.forwards[0] on
 * 127.0.0.1:16379"; a port range once, as 0.0.0.0:11211-11213), leaving out what did not start.
 */
export function serving(loaded: LoadedConfig, report: ApplyReport): string[] {
  const failed = new Set(report.failed.map((f) => f.bind));
  const byWhat = new Map<string, { face: string; host: string; ports: number[] }>();
  for (const l of listConfiguredListeners(loaded.config)) {
    if (l.face === 'admin' || failed.has(formatHostPort(l.bind.host, l.bind.port))) continue;
    const entry = byWhat.get(l.what) ?? { face: l.face, host: l.bind.host, ports: [] };
    entry.ports.push(l.bind.port);
    byWhat.set(l.what, entry);
  }
  return [...byWhat].map(([what, e]) => {
    const first = e.ports[0]!;
    const last = e.ports.at(-1)!;
    const ports = e.ports.length === 1 ? String(first) : `${first}-${last}`;
    return `${e.face} ${what} on ${e.host.includes(':') ? `[${e.host}]` : e.host}:${ports}`;
  });
}

// A section's `limits` as the limit policy reads them (policy/connection-limits.ts): this
// process's share of each value (divided by the workers), and the text and FILE:LINE that a
// refusal's audit line names. Shared by the runtime (the listener gates) and the faces that count
// requests (egress) or sessions per certificate (access endpoints).
import type { LoadedConfig } from '../config/load.js';
import type { ListenerLimitsConfig } from '../config/schema.js';
import type { ConfigPath } from '../config/source.js';
import { shareOf, type AcceptLimits, type Limit } from '../policy/connection-limits.js';

/** Where a route's limits are in the config: the section's `limits` values and their path. */
export interface LimitsAt {
  readonly values: ListenerLimitsConfig;
  /** The path of the section that holds `limits` (["portForwards", "cache"]). */
  readonly path: ConfigPath;
}

function ref(
  loaded: LoadedConfig,
  path: ConfigPath,
  key: string,
  value: number | string,
  share: number | string,
) {
  const perWorker = share !== value ? ` (${share} per worker)` : '';
  return { text: `${key} ${value}${perWorker}`, where: loaded.source.where([...path, 'limits'], key) };
}

/** One count limit of a section (maxConcurrent, maxSessionsPerCertificate …) as this process enforces it. */
export function limitOf(
  loaded: LoadedConfig,
  path: ConfigPath,
  key: string,
  value: number,
  workers: number,
): Limit | undefined {
  if (value <= 0) return undefined;
  const max = shareOf(value, workers);
  return { max, ref: ref(loaded, path, key, value, max) };
}

/** A whole limit (as compileProxy keeps it) as one of `workers` processes enforces it. */
export function shareLimit(limit: Limit | undefined, workers: number): Limit | undefined {
  if (!limit || workers <= 1) return limit;
  const max = shareOf(limit.max, workers);
  return { max, ref: { text: `${limit.ref.text} (${max} per worker)`, where: limit.ref.where } };
}

/** The accept-time limits of a listener, as this process (one of `workers`) enforces them. */
export function acceptLimitsOf(loaded: LoadedConfig, at: LimitsAt, workers: number): AcceptLimits {
  const v = at.values;
  const perSecond = v.acceptRate / Math.max(1, workers);
  const burst = shareOf(v.acceptBurst, workers);
  const rateText = `${+v.acceptRate.toFixed(3)}/s, burst ${v.acceptBurst}`;
  const shareText = `${+perSecond.toFixed(3)}/s, burst ${burst}`;
  return {
    connections: limitOf(loaded, at.path, 'maxConnections', v.maxConnections, workers),
    perSource: limitOf(loaded, at.path, 'maxConnectionsPerSource', v.maxConnectionsPerSource, workers),
    rate:
      v.acceptRate > 0
        ? {
            perSecond,
            burst,
            ref: ref(loaded, at.path, 'acceptRate', rateText, workers > 1 ? shareText : rateText),
          }
        : undefined,
  };
}

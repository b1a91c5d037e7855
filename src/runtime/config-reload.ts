// Reload and watching: the config file is watched, and a change (or SIGHUP, or the admin API)
// reloads it through one queue, so two triggers never apply at once and the last write wins. An
// invalid file is logged with every FILE:LINE problem and the running config stays (ghostunnel's
// "if reloading failed, the old state is kept").
import type { Logger } from 'pino';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { configWarnings } from '../config/warnings.js';
import { watchFile, type FileWatcher } from '../config/watch.js';
import { isGatehouseError } from '../errors.js';
import type { ReloadOutcome } from './admin-view.js';
import type { ApplyReport } from './runtime.js';

/** What reloads apply to: the Runtime of one process, or the primary of several workers. */
export interface Reloadable {
  apply(loaded: LoadedConfig): Promise<ApplyReport>;
  setReloader(reload: (trigger: string) => Promise<ReloadOutcome>): void;
}

function refusal(err: unknown) {
  return {
    code: isGatehouseError(err) ? err.code : undefined,
    message: err instanceof Error ? err.message : String(err),
    problems: isGatehouseError(err) ? err.details : [],
  };
}

/** Load `configPath` and apply it to `runtime`; failures keep the running config. */
async function reloadOnce(
  runtime: Reloadable,
  configPath: string,
  log: Logger,
  trigger: string,
): Promise<ReloadOutcome> {
  let next: LoadedConfig;
  try {
    next = loadConfig(configPath);
  } catch (err) {
    const { code, message, problems } = refusal(err);
    log.error({ trigger, code, problems }, `config rejected, keeping the last good config: ${message}`);
    return { ok: false, trigger, error: { code, message, problems } };
  }
  for (const w of configWarnings(next)) log.warn(w);
  let r: ApplyReport;
  try {
    r = await runtime.apply(next);
  } catch (err) {
    // A worker could not build what the primary validated: none applied it.
    const { code, message, problems } = refusal(err);
    log.error({ trigger, code, problems }, `config not applied, keeping the last good config: ${message}`);
    return { ok: false, trigger, error: { code, message, problems } };
  }
  log.info({ trigger, ...r }, r.failed.length ? 'config reloaded with listener errors' : 'config reloaded');
  return { ok: r.failed.length === 0, trigger, report: r };
}

/**
 * Reload `configPath` into `runtime` on file change and through runtime.reload() (what SIGHUP and
 * the admin API call). Returns the watcher; close it at shutdown.
 */
export function watchConfig(
  runtime: Reloadable,
  configPath: string,
  log: Logger,
  /** Told how each reload ended (the host's reload counter). */
  reloaded: (outcome: ReloadOutcome) => void = () => {},
): FileWatcher {
  let queue: Promise<ReloadOutcome> = Promise.resolve({ ok: true, trigger: 'start' });
  const reload = (trigger: string): Promise<ReloadOutcome> => {
    queue = queue.then(async () => {
      const outcome = await reloadOnce(runtime, configPath, log, trigger);
      reloaded(outcome);
      return outcome;
    });
    return queue;
  };
  runtime.setReloader(reload);
  return watchFile(configPath, () => void reload('file'));
}

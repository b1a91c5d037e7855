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
import type { Runtime } from './runtime.js';

/** Load `configPath` and apply it to `runtime`; failures keep the running config. */
async function reloadOnce(
  runtime: Runtime,
  configPath: string,
  log: Logger,
  trigger: string,
): Promise<ReloadOutcome> {
  let next: LoadedConfig;
  try {
    next = loadConfig(configPath);
  } catch (err) {
    const details = isGatehouseError(err) ? err.details : [];
    const code = isGatehouseError(err) ? err.code : undefined;
    const message = err instanceof Error ? err.message : String(err);
    log.error(
      { trigger, code, problems: details },
      `config rejected, keeping the last good config: ${message}`,
    );
    return { ok: false, trigger, error: { code, message, problems: details } };
  }
  for (const w of configWarnings(next)) log.warn(w);
  const r = await runtime.apply(next);
  log.info({ trigger, ...r }, r.failed.length ? 'config reloaded with listener errors' : 'config reloaded');
  return { ok: r.failed.length === 0, trigger, report: r };
}

/**
 * Reload `configPath` into `runtime` on file change and through runtime.reload() (what SIGHUP and
 * the admin API call). Returns the watcher; close it at shutdown.
 */
export function watchConfig(runtime: Runtime, configPath: string, log: Logger): FileWatcher {
  let queue: Promise<ReloadOutcome> = Promise.resolve({ ok: true, trigger: 'start' });
  const reload = (trigger: string): Promise<ReloadOutcome> => {
    queue = queue.then(() => reloadOnce(runtime, configPath, log, trigger));
    return queue;
  };
  runtime.setReloader(reload);
  return watchFile(configPath, () => void reload('file'));
}

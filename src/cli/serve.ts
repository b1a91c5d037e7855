import os from 'node:os';
import type { Command } from 'commander';
import path from 'node:path';
import type { AuditStore } from '../audit/store.js';
import { Fleet } from '../fleet/fleet.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { configWarnings } from '../config/warnings.js';
import { AdminHost } from '../admin/admin-host.js';
import { HealthHost } from '../admin/health-host.js';
import { watchConfig } from '../runtime/config-reload.js';
import { Host } from '../runtime/host.js';
import { createLog } from '../runtime/log.js';
import { Runtime, type ApplyReport } from '../runtime/runtime.js';
import { listenMode } from '../workers/listen-mode.js';
import { Primary } from '../workers/primary.js';
import { exitCodeFor, printError } from './output.js';

/** `workers: auto` is the cores this process may use. */
export function workerCount(setting: 'auto' | number): number {
  return setting === 'auto' ? Math.max(1, os.availableParallelism()) : setting;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the daemon: every listener in the config, reloaded on file change and on SIGHUP')
    .requiredOption('-c, --config <file>', 'config file')
    .option(
      '--grace <ms>',
      'on SIGTERM, how long sessions may finish before they are closed (default: shutdownTimeout of the config, 5s)',
    )
    .action(async (opts: { config: string; grace?: string }) => {
      const log = createLog();
      let loaded: LoadedConfig;
      try {
        loaded = loadConfig(opts.config);
      } catch (err) {
        printError(err);
        process.exitCode = exitCodeFor(err);
        return;
      }
      for (const w of configWarnings(loaded)) log.warn(w);
      const host = new Host(log);
      let store: AuditStore | undefined;
      let fleet: Fleet | undefined;
      try {
        store = host.openAudit(loaded);
        if (loaded.config.fleet) {
          // Every replica's audit events in one table, which is also what the admin API reads.
          fleet = new Fleet(loaded, log);
          host.audit.addSink(fleet.audit);
          host.metrics.register(fleet.registry);
          store = fleet.audit;
        }
      } catch (err) {
        printError(err);
        process.exitCode = 1;
        return;
      }
      if (fleet) await fleet.connect(host);
      const workers = workerCount(loaded.config.workers);
      // One process (workers: 1) is the Runtime over the Host; several are a primary and workers.
      const daemon =
        workers > 1 ? new Primary(log, host, { workers, listenMode: listenMode() }) : new Runtime(log, host);
      daemon.addService(new AdminHost(fleet ? fleet.admin(daemon) : daemon, log, store));
      // Ready once every face listens; not ready again from SIGTERM on, through the drain.
      let ready = false;
      let draining = false;
      daemon.addService(
        new HealthHost({ ready: () => ready && !draining, scrape: () => daemon.scrape() }, log),
      );
      const report: ApplyReport =
        daemon instanceof Primary ? await daemon.start(loaded) : await daemon.apply(loaded);
      if (report.failed.length > 0) {
        for (const f of report.failed)
          process.stderr.write(`error GH_ERR_LISTEN: cannot listen on ${f.bind}: ${f.error}\n`);
        process.stderr.write('  next: free the port or change the listen address in the config\n');
        await daemon.shutdown(0);
        process.exitCode = 1;
        return;
      }
      if (fleet) fleet.start(daemon, path.resolve(loaded.baseDir, loaded.config.pki));
      ready = true;
      log.info(
        { listeners: daemon.listening(), workers, ...(fleet ? { replica: fleet.replica } : {}) },
        'ready',
      );

      const watcher = watchConfig(daemon, opts.config, log, (o) => host.hostMetrics.reloaded(o));
      process.on('SIGHUP', () => void daemon.reload('SIGHUP'));
      const stop = (signal: string) => {
        if (draining) return;
        // The config in force now (a reload may have changed these).
        const running = daemon.inspect().loaded?.config ?? loaded.config;
        const grace = opts.grace !== undefined ? Number(opts.grace) : running.shutdownTimeout;
        draining = true;
        log.info(
          { signal, drainDelay: running.drainDelay, shutdownTimeout: grace },
          // /readyz fails from now; listeners close after drainDelay; sessions get shutdownTimeout.
          'shutting down',
        );
        watcher.close();
        setTimeout(() => {
          void daemon
            .shutdown(grace)
            .then(() => fleet?.stop())
            .then(() => {
              log.info('stopped');
              log.flush();
              process.exit(0);
            });
        }, running.drainDelay);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}

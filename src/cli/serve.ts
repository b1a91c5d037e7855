import os from 'node:os';
import { Option, type Command } from 'commander';
import path from 'node:path';
import type { AuditStore } from '../audit/store.js';
import { Fleet } from '../fleet/fleet.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { configWarnings } from '../config/warnings.js';
import { AdminHost } from '../admin/admin-host.js';
import { HealthHost } from '../admin/health-host.js';
import { watchConfig } from '../runtime/config-reload.js';
import { Host } from '../runtime/host.js';
import { createLog, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../runtime/log.js';
import { Runtime, type ApplyReport } from '../runtime/runtime.js';
import { listenMode } from '../workers/listen-mode.js';
import { Primary } from '../workers/primary.js';
import { exitCodeFor, printError } from './output.js';
import { serving, startFailures } from './start-report.js';
import { formatHostPort } from '../net/address.js';
import { VERSION } from '../version.js';

interface ServeOptions {
  config: string;
  grace?: string;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
}

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
    .addOption(
      new Option('--log-level <level>', 'operational log level (or $GATEHOUSE_LOG_LEVEL)')
        .choices(LOG_LEVELS)
        .default(undefined, 'info'),
    )
    .addOption(
      new Option(
        '--log-format <format>',
        'operational log format: JSON lines, readable lines, or readable on a terminal (or $GATEHOUSE_LOG_FORMAT)',
      )
        .choices(LOG_FORMATS)
        .default(undefined, 'auto'),
    )
    .addHelpText(
      'after',
      '\nSignals: SIGHUP reloads the config, SIGUSR1 reopens the audit and access log files (logrotate),\n' +
        'SIGTERM and SIGINT drain and stop.\n' +
        'Exit status: 0 stopped by a signal, 1 could not start (a listener, the admin API, the audit log),\n' +
        '2 bad usage or an invalid config.',
    )
    .action(async (opts: ServeOptions) => {
      // Workers read level and format from the environment they inherit.
      if (opts.logLevel) process.env.GATEHOUSE_LOG_LEVEL = opts.logLevel;
      if (opts.logFormat) process.env.GATEHOUSE_LOG_FORMAT = opts.logFormat;
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
      const admin = new AdminHost(fleet ? fleet.admin(daemon) : daemon, log, store);
      daemon.addService(admin);
      // Ready once every face listens; not ready again from SIGTERM on, through the drain.
      let ready = false;
      let draining = false;
      const health = new HealthHost({ ready: () => ready && !draining, scrape: () => daemon.scrape() }, log);
      daemon.addService(health);
      const report: ApplyReport =
        daemon instanceof Primary ? await daemon.start(loaded) : await daemon.apply(loaded);
      const failures = startFailures(loaded, report, admin, health);
      for (const f of failures.optional)
        log.warn({ what: f.what }, `${f.what} not started (optional: true): ${f.why}`);
      if (failures.required.length > 0) {
        for (const f of failures.required) printError(f.error);
        await daemon.shutdown(0);
        await fleet?.stop();
        process.exitCode = 1;
        return;
      }
      if (fleet) fleet.start(daemon, path.resolve(loaded.baseDir, loaded.config.pki));
      ready = true;
      log.info(
        {
          version: VERSION,
          serving: serving(loaded, report),
          console: admin.url() ?? null,
          ...(health.address()
            ? { health: formatHostPort(health.address()!.host, health.address()!.port) }
            : {}),
          logFiles: host.logFiles.files(),
          listeners: daemon.listening(),
          workers,
          ...(fleet ? { replica: fleet.replica } : {}),
        },
        'ready',
      );

      const watcher = watchConfig(daemon, opts.config, log, (o) => host.hostMetrics.reloaded(o));
      process.on('SIGHUP', () => void daemon.reload('SIGHUP'));
      // logrotate's postrotate: `kill -USR1 $(pidof …)` or `systemctl kill -s USR1 gatehouse`.
      // (A SIGUSR1 handler also keeps Node from opening its inspector on that signal.)
      process.on('SIGUSR1', () => {
        void daemon.reopenLogs().then((r) => {
          if (r.failed.length > 0)
            log.error({ trigger: 'SIGUSR1', ...r }, 'log files: some could not be reopened');
          else log.info({ trigger: 'SIGUSR1', ...r }, 'log files reopened');
        });
      });
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

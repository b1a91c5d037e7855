import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { jsonLinesSink } from '../audit/jsonl-sink.js';
import { openAuditStore, type SqliteAuditStore } from '../audit/sqlite-store.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { configWarnings } from '../config/warnings.js';
import { AdminHost } from '../admin/admin-host.js';
import { watchConfig } from '../runtime/config-reload.js';
import { Runtime } from '../runtime/runtime.js';
import { exitCodeFor, printError } from './output.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the daemon: every listener in the config, reloaded on file change and on SIGHUP')
    .requiredOption('-c, --config <file>', 'config file')
    .option('--grace <ms>', 'on SIGTERM, how long sessions may finish before they are closed', '5000')
    .action(async (opts: { config: string; grace: string }) => {
      const log = pino(
        { base: { pid: process.pid }, redact: ['token', '*.token', 'password', '*.password'] },
        pino.destination(2),
      );
      let loaded: LoadedConfig;
      try {
        loaded = loadConfig(opts.config);
      } catch (err) {
        printError(err);
        process.exitCode = exitCodeFor(err);
        return;
      }
      for (const w of configWarnings(loaded)) log.warn(w);
      const runtime = new Runtime(log);
      const auditLog = loaded.config.audit.log;
      const auditTarget = ['stdout', 'stderr'].includes(auditLog)
        ? auditLog
        : path.resolve(loaded.baseDir, auditLog);
      try {
        runtime.audit.addSink(jsonLinesSink(auditTarget));
      } catch (err) {
        process.stderr.write(
          `error: cannot open the audit log ${auditTarget}: ${(err as Error).message}\n  next: create its directory or change audit.log\n`,
        );
        process.exitCode = 1;
        return;
      }
      let store: SqliteAuditStore | undefined;
      try {
        store = openAuditStore(loaded.config.audit.store, loaded.baseDir, {
          retention: loaded.config.audit.retention,
          onError: (err) => log.error({ err }, 'audit store write failed'),
        });
      } catch (err) {
        printError(err);
        process.exitCode = 1;
        return;
      }
      if (store) runtime.audit.addSink(store);
      runtime.addService(new AdminHost(runtime, log, store));
      const report = await runtime.apply(loaded);
      if (report.failed.length > 0) {
        for (const f of report.failed)
          process.stderr.write(`error GH_ERR_LISTEN: cannot listen on ${f.bind}: ${f.error}\n`);
        process.stderr.write('  next: free the port or change the listen address in the config\n');
        await runtime.shutdown(0);
        process.exitCode = 1;
        return;
      }
      log.info({ listeners: runtime.listening() }, 'ready');

      const watcher = watchConfig(runtime, opts.config, log);
      process.on('SIGHUP', () => void runtime.reload('SIGHUP'));
      const stop = (signal: string) => {
        log.info({ signal }, 'shutting down');
        watcher.close();
        void runtime.shutdown(Number(opts.grace)).then(() => {
          log.info('stopped');
          log.flush();
          process.exit(0);
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}

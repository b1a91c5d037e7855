import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { configWarnings } from '../config/warnings.js';
import { listConfiguredListeners } from '../config/listeners.js';
import { exitCodeFor, printError } from './output.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a config file and print every problem as FILE:LINE: message')
    .requiredOption('-c, --config <file>', 'config file')
    .action((opts: { config: string }) => {
      try {
        const loaded = loadConfig(opts.config);
        for (const w of configWarnings(loaded)) process.stderr.write(`${w}\n`);
        const c = loaded.config;
        process.stdout.write(
          `${opts.config}: OK (${listConfiguredListeners(c).length} listeners, ${Object.keys(c.securityGroups).length} security groups, ` +
            `${Object.keys(c.portForwards).length} port forward groups, ${Object.keys(c.accessEndpoints).length} access endpoints, ` +
            `${Object.keys(c.egressProxies).length} egress proxies)\n`,
        );
      } catch (err) {
        printError(err);
        process.exitCode = exitCodeFor(err);
      }
    });
}

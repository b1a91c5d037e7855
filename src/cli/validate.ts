import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parseHtpasswd } from '../auth/htpasswd.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { fromCwd } from '../config/check.js';
import { configWarnings } from '../config/warnings.js';
import { listConfiguredListeners } from '../config/listeners.js';
import { isGatehouseError } from '../errors.js';
import { parseAllowlist } from '../policy/allowlist.js';
import { exitCodeFor, printError } from './output.js';

/**
 * What the daemon would log about the files an egress proxy loads (dead allowlist entries such as
 * `*.example.com`, htpasswd lines it skips), said by `validate` before anything runs. A file that
 * cannot be read is the cross-check's problem (it must exist), not a warning here.
 */
export function fileWarnings(loaded: LoadedConfig): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const once = (file: string, read: (text: string, file: string) => readonly string[]) => {
    const full = path.resolve(loaded.baseDir, file);
    if (seen.has(full)) return;
    seen.add(full);
    let text: string;
    try {
      text = fs.readFileSync(full, 'utf8');
    } catch {
      return;
    }
    out.push(...read(text, fromCwd(full)));
  };
  for (const ep of Object.values(loaded.config.egressProxies)) {
    for (const f of [ep.allowlist, ...ep.policies.map((p) => p.allowlist)])
      if (f) once(f, (text, file) => parseAllowlist(text, file).warnings);
    if (ep.auth) once(ep.auth.htpasswd, (text, file) => parseHtpasswd(text, file).warnings);
  }
  return out;
}

function summary(loaded: LoadedConfig) {
  const c = loaded.config;
  return {
    listeners: listConfiguredListeners(c).length,
    securityGroups: Object.keys(c.securityGroups).length,
    portForwards: Object.keys(c.portForwards).length,
    accessEndpoints: Object.keys(c.accessEndpoints).length,
    egressProxies: Object.keys(c.egressProxies).length,
  };
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description(
      'check a config file and the files it names; print every problem as FILE:LINE: message, and warnings',
    )
    .requiredOption('-c, --config <file>', 'config file')
    .option('--json', 'print { file, valid, problems, warnings, summary } as JSON on stdout')
    .addHelpText('after', '\nExit status: 0 valid (warnings or not), 2 invalid or unreadable, or bad usage.')
    .action((opts: { config: string; json?: boolean }) => {
      try {
        const loaded = loadConfig(opts.config);
        const warnings = [...configWarnings(loaded), ...fileWarnings(loaded)];
        const s = summary(loaded);
        if (opts.json) {
          process.stdout.write(
            JSON.stringify({ file: opts.config, valid: true, problems: [], warnings, summary: s }, null, 2) +
              '\n',
          );
          return;
        }
        for (const w of warnings) process.stderr.write(`${w}\n`);
        process.stdout.write(
          `${opts.config}: OK (${s.listeners} listeners, ${s.securityGroups} security groups, ` +
            `${s.portForwards} port forward groups, ${s.accessEndpoints} access endpoints, ` +
            `${s.egressProxies} egress proxies${warnings.length ? `; ${warnings.length} warning(s)` : ''})\n`,
        );
      } catch (err) {
        process.exitCode = exitCodeFor(err);
        if (!opts.json) return printError(err);
        process.stdout.write(
          JSON.stringify(
            {
              file: opts.config,
              valid: false,
              problems: isGatehouseError(err) && err.details.length ? err.details : [(err as Error).message],
              warnings: [],
              ...(isGatehouseError(err)
                ? { error: { code: err.code, message: err.message, hint: err.hint } }
                : {}),
            },
            null,
            2,
          ) + '\n',
        );
      }
    });
}

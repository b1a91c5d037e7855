import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { GatehouseError } from '../errors.js';
import { formatHostPort, parseHostPort } from '../net/address.js';
import { parseIp } from '../net/cidr.js';
import { describeDecision } from '../policy/decision.js';
import { explain } from '../policy/explain.js';
import { compileSecurityPolicy } from '../policy/security-groups.js';
import { exitCodeFor, printError } from './output.js';

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description('say whether a connection would be admitted, and which rule at which FILE:LINE decided')
    .requiredOption('-c, --config <file>', 'config file')
    .requiredOption('--from <ip>', 'source address of the client')
    .requiredOption('--to <addr:port>', 'listener address and port the client connects to (or just the port)')
    .option('--client <name>', 'client certificate name (access endpoints)')
    .addHelpText('after', '\nExit status: 0 allowed, 1 denied or no such listener, 2 bad input.')
    .action((opts: { config: string; from: string; to: string }) => {
      try {
        const from = parseIp(opts.from);
        if (!from) throw new GatehouseError('GH_ERR_USAGE', [`--from "${opts.from}" is not an IP address`]);
        const to = parseHostPort(/^\d+$/.test(opts.to) ? `0.0.0.0:${opts.to}` : opts.to);
        if (typeof to === 'string') throw new GatehouseError('GH_ERR_USAGE', [`--to: ${to}`]);
        const loaded = loadConfig(opts.config);
        const policy = compileSecurityPolicy(loaded.config, loaded.source);
        const results = explain(loaded.config, loaded.source, policy, from, to);
        if (results.length === 0) {
          process.stdout.write(
            `no listener on ${formatHostPort(to.host, to.port)} in ${opts.config}: nothing would accept the connection\n`,
          );
          process.exitCode = 1;
          return;
        }
        for (const r of results) {
          const at = loaded.source.where(r.listener.path);
          process.stdout.write(
            `${r.allowed ? 'ALLOWED' : 'DENIED'}  ${from.toString()} → ${formatHostPort(r.listener.bind.host, r.listener.bind.port)} (${r.listener.what}, ${at})` +
              (r.target ? ` → ${r.target}` : '') +
              '\n',
          );
          for (const s of r.steps)
            process.stdout.write(`  ${s.step.padEnd(8)} ${s.subject}: ${describeDecision(s.decision)}\n`);
        }
        process.exitCode = results.every((r) => r.allowed) ? 0 : 1;
      } catch (err) {
        printError(err);
        process.exitCode = exitCodeFor(err);
      }
    });
}

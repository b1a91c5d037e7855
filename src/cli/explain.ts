import type { Command } from 'commander';
import path from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { showCertificate } from '../pki/index.js';
import { GatehouseError } from '../errors.js';
import { formatHostPort, parseHostPort, type HostPort } from '../net/address.js';
import { parseIp, type IpAddress } from '../net/cidr.js';
import { describeDecision } from '../policy/decision.js';
import { explain, explainAccess } from '../policy/explain.js';
import { compileSecurityPolicy, type SecurityPolicy } from '../policy/security-groups.js';
import { exitCodeFor, printError } from './output.js';

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description('say whether a connection would be admitted, and which rule at which FILE:LINE decided')
    .requiredOption('-c, --config <file>', 'config file')
    .requiredOption('--from <ip>', 'source address of the client')
    .requiredOption('--to <addr:port>', 'listener address and port the client connects to (or just the port)')
    .option(
      '--client <name>',
      'client certificate name: explain access endpoints, with --to the private target',
    )
    .addHelpText('after', '\nExit status: 0 allowed, 1 denied or no such listener, 2 bad input.')
    .action((opts: { config: string; from: string; to: string; client?: string }) => {
      try {
        const from = parseIp(opts.from);
        if (!from) throw new GatehouseError('GH_ERR_USAGE', [`--from "${opts.from}" is not an IP address`]);
        const to = parseHostPort(/^\d+$/.test(opts.to) ? `0.0.0.0:${opts.to}` : opts.to);
        if (typeof to === 'string') throw new GatehouseError('GH_ERR_USAGE', [`--to: ${to}`]);
        const loaded = loadConfig(opts.config);
        const policy = compileSecurityPolicy(loaded.config, loaded.source);
        if (opts.client !== undefined) {
          explainClient(loaded, policy, from, to, opts.client);
          return;
        }
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
          const lbs = r.listener.trustedProxies;
          if (lbs)
            process.stdout.write(
              `  proxy    a PROXY v2 header from ${lbs.map((c) => c.text).join(', ')} must come first; ${from.toString()} is taken as the client address it names\n`,
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

/** --client: through access endpoints, with the groups of that client's certificate. */
function explainClient(
  loaded: LoadedConfig,
  policy: SecurityPolicy,
  from: IpAddress,
  to: HostPort,
  client: string,
): void {
  const pkiDir = path.resolve(loaded.baseDir, loaded.config.pki);
  const cert = showCertificate(pkiDir, client);
  const status = cert.record?.status ?? 'valid';
  process.stdout.write(
    `client ${client}: groups ${cert.groups.length ? cert.groups.join(', ') : '(none)'}; certificate ${status}\n`,
  );
  const results = explainAccess(loaded.config, loaded.source, policy, from, to, cert.groups);
  if (results.length === 0) {
    process.stdout.write('no access endpoints in the config\n');
    process.exitCode = 1;
    return;
  }
  for (const r of results) {
    const allowed = r.allowed && status === 'valid';
    process.stdout.write(
      `${allowed ? 'ALLOWED' : 'DENIED'}  ${client} from ${from.toString()} → ${formatHostPort(to.host, to.port)} via accessEndpoints.${r.endpoint}\n`,
    );
    if (status !== 'valid')
      process.stdout.write(`  certificate  ${client}: ${status}, refused at the handshake\n`);
    for (const s of r.steps) process.stdout.write(`  ${s.step.padEnd(13)} ${s.subject}: ${s.text}\n`);
  }
  process.exitCode = results.some((r) => r.allowed) && status === 'valid' ? 0 : 1;
}

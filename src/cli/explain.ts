import type { Command } from 'commander';
import path from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { showCertificate } from '../pki/index.js';
import { explainView, parseExplainTo } from '../admin/views.js';
import { GatehouseError, isGatehouseError } from '../errors.js';
import { formatHostPort, type HostPort } from '../net/address.js';
import { parseIp, type IpAddress } from '../net/cidr.js';
import { explainAccess } from '../policy/explain.js';
import { compileSecurityPolicy, type SecurityPolicy } from '../policy/security-groups.js';
import { exitCodeFor, printError, printJsonError } from './output.js';

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description('say whether a connection would be admitted, and which rule at which FILE:LINE decided')
    .requiredOption('-c, --config <file>', 'config file')
    .requiredOption('--from <ip>', 'source address of the client')
    .requiredOption(
      '--to <addr:port>',
      'address and port the client connects to; a bare port or 0.0.0.0:PORT matches every listener on that port',
    )
    .option(
      '--client <name>',
      'client certificate name: explain access endpoints, with --to the private target',
    )
    .option('--json', 'print the answer as JSON (the same as POST /api/explain)')
    .addHelpText(
      'after',
      '\nExit status: 0 allowed, 1 denied or no such listener, 2 bad usage or an invalid config.',
    )
    .action((opts: { config: string; from: string; to: string; client?: string; json?: boolean }) => {
      try {
        const from = parseIp(opts.from);
        if (!from) throw new GatehouseError('GH_ERR_USAGE', [`--from "${opts.from}" is not an IP address`]);
        const to = parseExplainTo(opts.to);
        if (typeof to === 'string') throw new GatehouseError('GH_ERR_USAGE', [`--to: ${to}`]);
        const loaded = loadConfig(opts.config);
        if (opts.client !== undefined) {
          const policy = compileSecurityPolicy(loaded.config, loaded.source);
          explainClient(loaded, policy, from, to, opts.client, opts.json === true);
          return;
        }
        let answer: ReturnType<typeof explainView>;
        try {
          answer = explainView(loaded, from, to);
        } catch (err) {
          if (!isGatehouseError(err) || err.code !== 'GH_ERR_NO_LISTENER') throw err;
          // Not a usage error: the question was fine, and the answer is that nothing listens there.
          if (opts.json) printJsonError(err);
          else printError(err);
          process.exitCode = 1;
          return;
        }
        process.exitCode = answer.allowed ? 0 : 1;
        if (opts.json) {
          process.stdout.write(JSON.stringify(answer, null, 2) + '\n');
          return;
        }
        for (const r of answer.results) {
          process.stdout.write(
            `${r.allowed ? 'ALLOWED' : 'DENIED'}  ${answer.from} → ${r.listener.bind} (${r.listener.what}, ${r.listener.where})` +
              (r.target ? ` → ${r.target}` : '') +
              '\n',
          );
          const lbs = r.listener.trustedProxies;
          if (lbs)
            process.stdout.write(
              `  proxy    a PROXY v2 header from ${lbs.join(', ')} must come first; ${answer.from} is taken as the client address it names\n`,
            );
          for (const s of r.steps) process.stdout.write(`  ${s.step.padEnd(8)} ${s.subject}: ${s.text}\n`);
        }
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
  json: boolean,
): void {
  const pkiDir = path.resolve(loaded.baseDir, loaded.config.pki);
  const cert = showCertificate(pkiDir, client);
  const status = cert.record?.status ?? 'valid';
  const results = explainAccess(loaded.config, loaded.source, policy, from, to, cert.groups);
  const allowedAny = results.some((r) => r.allowed) && status === 'valid';
  process.exitCode = allowedAny ? 0 : 1;
  if (json) {
    process.stdout.write(
      JSON.stringify(
        {
          client,
          groups: cert.groups,
          certificate: status,
          from: from.toString(),
          to: formatHostPort(to.host, to.port),
          allowed: allowedAny,
          results: results.map((r) => ({ ...r, allowed: r.allowed && status === 'valid' })),
        },
        null,
        2,
      ) + '\n',
    );
    return;
  }
  process.stdout.write(
    `client ${client}: groups ${cert.groups.length ? cert.groups.join(', ') : '(none)'}; certificate ${status}\n`,
  );
  if (results.length === 0) {
    process.stdout.write('no access endpoints in the config\n');
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
}

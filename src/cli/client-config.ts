import type { Command } from 'commander';
import { makeProfile } from '../access-client/make-profile.js';
import { writeProfile } from '../access-client/profile.js';
import { loadConfig } from '../config/load.js';
import { resolvePassSpec } from '../pki/index.js';
import { exitCodeFor, printError } from './output.js';

export function registerClientConfig(program: Command): void {
  program
    .command('client-config')
    .description(
      'write a client profile for an access endpoint: address, CA, certificate and key, reachable targets (mode 0600); without --client, a login profile for `gatehouse login`',
    )
    .argument('<endpoint>', 'access endpoint name in the config')
    .option(
      '--client <name>',
      'client certificate name in the PKI (omit on an endpoint with login: the profile then gets its certificate from `gatehouse login`)',
    )
    .requiredOption('-o, --output <file>', 'profile file to write')
    .option('-c, --config <file>', 'config file', 'gatehouse.yaml')
    .option(
      '--address <host:port>',
      'address clients dial (default: the listen address, or the server certificate SAN)',
    )
    .option('--passin <spec>', 'passphrase of an encrypted client key: pass:…, env:VAR or file:PATH')
    .action(
      async (
        endpoint: string,
        opts: { client?: string; output: string; config: string; address?: string; passin?: string },
      ) => {
        try {
          const loaded = loadConfig(opts.config);
          const passphrase = opts.passin ? resolvePassSpec(opts.passin, '--passin') : undefined;
          const profile = makeProfile(loaded, {
            endpoint,
            ...(opts.client !== undefined ? { client: opts.client } : {}),
            ...(opts.address ? { address: opts.address } : {}),
            ...(passphrase ? { passphrase } : {}),
          });
          writeProfile(opts.output, profile);
          if (profile.login) {
            process.stdout.write(
              `wrote ${opts.output} (0600): a login profile for ${endpoint} at ${profile.address}\n` +
                `  provider: ${profile.login.issuer} (client ${profile.login.clientId})\n` +
                `  next: gatehouse login ${opts.output}   (or --device on a machine without a browser)\n`,
            );
            return;
          }
          process.stdout.write(
            `wrote ${opts.output} (0600) for ${profile.commonName} on ${endpoint} at ${profile.address}\n` +
              `  groups: ${profile.groups.join(', ') || '(none)'}\n` +
              `  may reach: ${profile.targets.join('; ') || '(nothing: no authorization rule names these groups)'}\n`,
          );
        } catch (err) {
          printError(err);
          process.exitCode = exitCodeFor(err);
        }
      },
    );
}

// `gatehouse login PROFILE [--device]`: get a certificate through the endpoint's OpenID provider
// and write it, with its new key, into the profile (mode 0600).
import type { Command } from 'commander';
import { readProfile, writeProfile } from '../access-client/profile.js';
import { exitCodeFor, printError } from './output.js';

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description(
      "log in through the access endpoint's OpenID provider: a new key and a short-lived certificate in PROFILE",
    )
    .argument('<profile>', 'client profile written by `gatehouse client-config ENDPOINT -o FILE`')
    .option(
      '--device',
      'use the device authorization grant: a code to enter in a browser anywhere (headless, CI)',
    )
    .option('--no-browser', 'do not try to open a browser; only print the URL')
    .action(async (file: string, opts: { device?: boolean; browser: boolean }) => {
      const say = (line: string) => process.stderr.write(`${line}\n`);
      try {
        const profile = readProfile(file);
        // Loaded when `login` runs: openid-client and jose are no part of any other command.
        const { login } = await import('../access-client/login.js');
        const r = await login(profile, {
          device: opts.device === true,
          openBrowser: opts.browser,
          say,
          file,
        });
        writeProfile(file, r.profile);
        process.stdout.write(
          `logged in as ${r.profile.commonName} on ${r.profile.endpoint}; wrote ${file} (0600)\n` +
            `  groups: ${r.profile.groups.join(', ')}\n` +
            `  certificate ${r.serial}, valid until ${r.notAfter.toISOString()}\n` +
            `  may reach: ${r.profile.targets.join('; ') || '(nothing: no authorization rule names these groups)'}\n`,
        );
      } catch (err) {
        printError(err);
        process.exitCode = exitCodeFor(err);
      }
    });
}

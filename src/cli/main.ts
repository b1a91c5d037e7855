import { Command, CommanderError } from 'commander';
import { registerAdminClient } from './admin-commands.js';
import { registerClientConfig } from './client-config.js';
import { registerConnect } from './connect.js';
import { registerExplain } from './explain.js';
import { registerLogin } from './login.js';
import { registerPki } from './pki/pki-command.js';
import { registerServe } from './serve.js';
import { registerValidate } from './validate.js';
import { EXIT_STATUS_HELP, EXIT_USAGE } from './output.js';
import { VERSION } from '../version.js';

const program = new Command();
program
  .name('gatehouse')
  .description(
    'The front door of private cache networks: security groups, PKI, access endpoints, port forwards, egress proxies.',
  )
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText('after', `\n${EXIT_STATUS_HELP}`)
  // Commander exits 1 on a usage error (a missing or unknown option, a missing argument); ours is 2
  // on every command, as for a bad config, so 1 keeps meaning "the answer is no" (denied, refused).
  // Set before the commands are added: each command copies it.
  .exitOverride();

registerServe(program);
registerValidate(program);
registerExplain(program);
registerPki(program);
registerClientConfig(program);
registerConnect(program);
registerLogin(program);
registerAdminClient(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Commander has printed the usage error (or the help, or the version) already.
  if (!(err instanceof CommanderError)) throw err;
  const done = ['commander.helpDisplayed', 'commander.version'].includes(err.code);
  process.exitCode = done ? 0 : EXIT_USAGE;
}

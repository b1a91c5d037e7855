import { Command } from 'commander';
import { registerAdminClient } from './admin-commands.js';
import { registerClientConfig } from './client-config.js';
import { registerConnect } from './connect.js';
import { registerExplain } from './explain.js';
import { registerLogin } from './login.js';
import { registerPki } from './pki/pki-command.js';
import { registerServe } from './serve.js';
import { registerValidate } from './validate.js';

const program = new Command();
program
  .name('gatehouse')
  .description(
    'The front door of private cache networks: security groups, PKI, access endpoints, port forwards, egress proxies.',
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

registerServe(program);
registerValidate(program);
registerExplain(program);
registerPki(program);
registerClientConfig(program);
registerConnect(program);
registerLogin(program);
registerAdminClient(program);

await program.parseAsync(process.argv);

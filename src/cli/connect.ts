import type { Command } from 'commander';
import { connect, parseForward, type ForwardSpec } from '../access-client/connect.js';
import { readProfile } from '../access-client/profile.js';
import { GatehouseError } from '../errors.js';
import { exitCodeFor, printError } from './output.js';

export function registerConnect(program: Command): void {
  program
    .command('connect')
    .description('open local ports carried over one HTTP/2 session to an access endpoint')
    .argument('<profile>', 'client profile written by `gatehouse client-config`')
    .option(
      '--forward <LOCALPORT:HOST:PORT>',
      'forward a local port to a target (repeatable)',
      (v: string, acc: ForwardSpec[]) => [...acc, parseForward(v)],
      [] as ForwardSpec[],
    )
    .option('--socks <port>', 'serve SOCKS5 on this local port, for any authorized target')
    .option('--bind <address>', 'local address of the listeners', '127.0.0.1')
    .action(async (file: string, opts: { forward: ForwardSpec[]; socks?: string; bind: string }) => {
      const say = (line: string) => process.stderr.write(`${line}\n`);
      try {
        const profile = readProfile(file);
        if (opts.forward.length === 0 && opts.socks === undefined)
          throw new GatehouseError('GH_ERR_USAGE', [
            'give at least one --forward LOCALPORT:HOST:PORT or --socks PORT',
          ]);
        const socks = opts.socks === undefined ? undefined : Number(opts.socks);
        if (socks !== undefined && !(Number.isInteger(socks) && socks >= 0 && socks <= 65535))
          throw new GatehouseError('GH_ERR_USAGE', [`--socks "${opts.socks}" is not a port`]);
        const c = await connect(profile, {
          forwards: opts.forward,
          ...(socks === undefined ? {} : { socks }),
          bind: opts.bind,
          file,
          say,
          onFatal: (err) => {
            printError(err);
            void c.close().then(() => process.exit(1));
          },
        });
        for (const l of c.listeners) say(`listening on ${opts.bind}:${l.port}: ${l.what}`);
        const stop = () => void c.close().then(() => process.exit(0));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      } catch (err) {
        printError(err);
        process.exitCode = exitCodeFor(err);
      }
    });
}

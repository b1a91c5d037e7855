// `gatehouse pki init-pki`: a new, empty PKI directory.
import type { Command } from 'commander';
import { initPki } from '../../pki/index.js';
import { globals, out, run } from './verb-kit.js';

export function registerInitPki(pki: Command): void {
  pki
    .command('init-pki')
    .description('create an empty PKI directory (private/ 0700, reqs/)')
    .option('--force', 'delete an existing non-empty directory first, CA key included')
    .action(
      run(async (opts: { force?: boolean }, cmd: Command) => {
        const l = initPki(globals(cmd).pki, { force: opts.force === true });
        out(`init-pki complete: ${l.root}`);
        out('next: gatehouse pki build-ca');
      }),
    );
}

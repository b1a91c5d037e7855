// `gatehouse pki init-pki`: a new, empty PKI directory.
import type { Command } from 'commander';
import { initPki } from '../../pki/index.js';
import { out, run, settings, words } from './verb-kit.js';

export function registerInitPki(pki: Command): void {
  pki
    .command('init-pki')
    .description('create an empty PKI directory (private/ 0700, reqs/, vars, openssl-easyrsa.cnf)')
    .argument('[mode]', 'for an existing PKI with --batch or --force: hard-reset (default) or soft-reset')
    .option('--force', 'delete an existing non-empty directory first, CA key included')
    .action(
      run(async (mode: string | undefined, opts: { force?: boolean }, cmd: Command) => {
        const s = settings(cmd, { readVars: false });
        const w = words(mode === undefined ? [] : [mode], ['hard-reset', 'hard', 'soft-reset', 'soft']);
        const soft = w.has('soft') || w.has('soft-reset');
        // easy-rsa asks before it deletes an existing PKI, and does not ask under --batch.
        const wipe = opts.force === true || s.batch;
        const l = initPki(s.pki, { force: wipe && (soft ? 'soft' : 'hard') });
        out(`init-pki complete: ${l.root}`);
        out('next: gatehouse pki build-ca');
      }),
    );
}

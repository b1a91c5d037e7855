// `gatehouse pki build-login-ca`: the intermediate CA that signs the certificates of OpenID
// Connect logins (pki/login-ca/), made with the root key once so that key can stay offline.
import type { Command } from 'commander';
import { buildLoginCa } from '../../pki/index.js';
import { caPassphrase, out, run, settings } from './verb-kit.js';

export function registerBuildLoginCa(pki: Command): void {
  pki
    .command('build-login-ca')
    .description(
      'create the login CA (pki/login-ca/): an intermediate under the CA that signs only login certificates',
    )
    .addHelpText(
      'after',
      `
Valid for --days (EASYRSA_CERT_EXPIRE, default 825), never past the CA. The daemon signs logins
with pki/login-ca/private/ca.key (0600); the CA's own key is needed only here. Login certificates
are listed and revoked in the login CA's directory:
  gatehouse pki --pki pki/login-ca list
  gatehouse pki --pki pki/login-ca revoke SERIAL && gatehouse pki --pki pki/login-ca gen-crl
Revoking the login CA itself in the CA (\`gatehouse pki revoke login-ca\`, then gen-crl) ends them all.`,
    )
    .action(
      run(async (_opts: unknown, cmd: Command) => {
        const s = settings(cmd);
        const built = await buildLoginCa(s.pki, { days: s.certDays, passin: caPassphrase(s) });
        out(
          `login CA created: ${built.dir} (serial ${built.serial}, expires ${built.certificate.validTo}); its CRL: ${built.dir}/crl.pem`,
        );
      }),
    );
}

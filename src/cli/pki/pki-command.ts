// `gatehouse pki …`: easy-rsa's verbs on an easy-rsa 3 pki/ directory. This file is the `pki`
// command: easy-rsa's global options (accepted before or after the verb, --opt=value or --opt
// value), its help, and the verbs, one file per verb group; parsing and printing only, the work
// is in src/pki/.
import { type Command, Option } from 'commander';
import { registerBuildCa, registerBuildFull } from './build.js';
import { registerExportP12, registerExportP7 } from './export.js';
import { registerInitPki } from './init-pki.js';
import { registerList, registerShow } from './inspect.js';
import { registerBuildLoginCa } from './login-ca.js';
import { registerRenew, registerUpdateDb } from './lifecycle.js';
import { registerGenReq, registerImportReq, registerSignReq } from './request.js';
import { registerGenCrl, registerRevoke } from './revoke.js';
import { registerShowCa, registerShowCert, registerShowCrl, registerShowReq } from './show.js';

/** A repeatable option's values, in order. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerPki(program: Command): void {
  const pki = program
    .command('pki')
    .description(
      'easy-rsa compatible CA: the easyrsa verbs and global options on an easy-rsa 3 pki/ directory',
    )
    .option('--pki-dir <dir>', 'the PKI directory (default: $EASYRSA_PKI, else ./pki)')
    .addOption(new Option('--pki <dir>', 'the same as --pki-dir').hideHelp())
    .option('--batch', 'no questions (easy-rsa: EASYRSA_BATCH); init-pki then replaces an existing PKI')
    .option('--silent', 'fewer messages (EASYRSA_SILENT)')
    .option('--sbatch, --silent-batch', '--silent and --batch')
    .option('--days <n>', 'validity in days of the CA (build-ca), certificates, or the CRL (gen-crl)')
    .option('--renew-days <n>', 'renew only certificates expiring within N days (EASYRSA_CERT_RENEW, 30)')
    .option('--san <list>', 'subjectAltName, easy-rsa style: DNS:a,IP:10.0.0.1 (repeatable)', collect)
    .addOption(new Option('--subject-alt-name <list>', 'the same as --san').argParser(collect).hideHelp())
    .option('--req-cn <name>', 'CN of build-ca, and of gen-req with --batch (EASYRSA_REQ_CN)')
    .option('--use-algo <algo>', 'key algorithm: rsa, ec or ed (EASYRSA_ALGO; gatehouse default: ec P-256)')
    .option('--curve <name>', 'curve for ec (prime256v1, secp384r1, secp521r1) or ed (ed25519)')
    .option('--keysize <bits>', 'RSA key size (EASYRSA_KEY_SIZE, 2048)')
    .option('--digest <name>', 'signature digest: sha256, sha384, sha512 (EASYRSA_DIGEST)')
    .option('--dn-mode <mode>', 'cn_only or org (EASYRSA_DN)')
    .option('--req-c <cc>', 'org mode country (EASYRSA_REQ_COUNTRY)')
    .option('--req-st <name>', 'org mode state or province (EASYRSA_REQ_PROVINCE)')
    .option('--req-city <name>', 'org mode city (EASYRSA_REQ_CITY)')
    .option('--req-org <name>', 'org mode organization (EASYRSA_REQ_ORG)')
    .option('--req-email <addr>', 'org mode email (EASYRSA_REQ_EMAIL)')
    .option('--req-ou <name>', 'org mode organizational unit (EASYRSA_REQ_OU)')
    .option('--vars <file>', 'the vars file to read (default: PKI/vars, else ./vars)')
    .option('--copy-ext', "sign-req: copy the request's subjectAltName into a client certificate")
    .option(
      '--passin <spec>',
      'passphrase of an encrypted key: pass:TEXT, env:VAR or file:PATH ($EASYRSA_PASSIN)',
    )
    .option(
      '--passout <spec>',
      'passphrase for a new key or export: pass:TEXT, env:VAR or file:PATH ($EASYRSA_PASSOUT)',
    )
    .addHelpText(
      'after',
      `
Settings come from the command line, then the environment (EASYRSA_PKI, EASYRSA_BATCH,
EASYRSA_REQ_CN, EASYRSA_ALGO, EASYRSA_CURVE, EASYRSA_KEY_SIZE, EASYRSA_CERT_EXPIRE,
EASYRSA_CRL_DAYS, …), then the vars file's \`set_var NAME value\` lines (read, never run), then
easy-rsa's defaults.

Examples:
  EASYRSA_PKI=/etc/gatehouse/pki gatehouse pki init-pki
  gatehouse pki build-ca nopass
  gatehouse pki --batch --days=30 --san=DNS:gw.example.com,IP:10.0.0.5 build-server-full gw nopass
  gatehouse pki --use-algo=ec --curve=secp384r1 gen-req alice nopass && gatehouse pki sign-req client alice
  gatehouse pki build-client-full bob nopass --group developers --group oncall
  gatehouse pki revoke bob keyCompromise && gatehouse pki gen-crl

Private keys are written unencrypted unless --passout (or --passphrase) is given; "nopass" is
accepted for easy-rsa habits. Nothing prints a private key.`,
    );

  // The order here is the order of `gatehouse pki --help`.
  registerInitPki(pki);
  registerBuildCa(pki);
  registerGenReq(pki);
  registerImportReq(pki);
  registerSignReq(pki);
  registerBuildFull(pki, 'server');
  registerBuildFull(pki, 'client');
  registerBuildFull(pki, 'serverClient');
  registerRenew(pki);
  registerRevoke(pki);
  registerGenCrl(pki);
  registerUpdateDb(pki);
  registerExportP12(pki);
  registerExportP7(pki);
  registerShowReq(pki);
  registerShowCert(pki);
  registerShowCa(pki);
  registerShowCrl(pki);
  registerList(pki);
  registerShow(pki);
  registerBuildLoginCa(pki);
}

// Passphrase sources, in OpenSSL's pass-phrase argument syntax as easy-rsa passes them through
// (`easyrsa --passin=pass:xxx`, EASYRSA_PASSIN / EASYRSA_PASSOUT): pass:TEXT, env:VAR, file:PATH.
import { readFileSync } from 'node:fs';
import { GatehouseError } from '../errors.js';

export function resolvePassSpec(spec: string, flag: string): string {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? '' : spec.slice(colon + 1);
  let value: string | undefined;
  if (kind === 'pass') value = arg;
  else if (kind === 'env') {
    value = process.env[arg];
    if (value === undefined) throw bad(`${flag} env:${arg}: the variable is not set`);
  } else if (kind === 'file') {
    try {
      value = (readFileSync(arg, 'utf8').split(/\r?\n/)[0] ?? '').toString();
    } catch (err) {
      throw new GatehouseError('GH_ERR_PKI_PASSPHRASE', [`${flag} file:${arg}: cannot read the file`], {
        cause: err,
      });
    }
  } else {
    throw bad(`${flag} "${kind}:…" is not a passphrase source`);
  }
  if (value.length < 4) throw bad(`${flag}: a passphrase needs at least 4 characters (as OpenSSL requires)`);
  return value;
}

function bad(message: string): GatehouseError {
  return new GatehouseError('GH_ERR_PKI_PASSPHRASE', [message], {
    hint: 'use pass:TEXT, env:VARIABLE or file:PATH (first line), as with easyrsa --passin/--passout',
  });
}

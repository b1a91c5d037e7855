// Entity names (the NAME of build-*-full, revoke, show): they become file names under the PKI and
// the certificate's CN, so new names are held to a safe set; lookups only refuse path tricks, since
// an easy-rsa PKI may hold names Gatehouse would not create.
import { GatehouseError } from '../errors.js';

const NEW_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function checkNewName(name: string): string {
  if (!NEW_NAME.test(name) || name.endsWith('.')) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad name "${name}"`], {
      hint: 'use 1–64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit',
    });
  }
  if (name === 'ca') {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', ['the name "ca" is the CA\'s own (private/ca.key)'], {
      hint: 'pick another name',
    });
  }
  return name;
}

export function checkLookupName(name: string): string {
  if (name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name)) {
    throw new GatehouseError('GH_ERR_PKI_BAD_INPUT', [`bad name "${name}"`], {
      hint: 'give the NAME used with build-server-full / build-client-full (see `gatehouse pki list`)',
    });
  }
  return name;
}

/** The CN of an OpenSSL one-line subject ("/CN=alice" → "alice"), if it has one. */
export function commonNameOf(subject: string): string | undefined {
  const m = /(?:^|\/)CN=([^/]*)/.exec(subject);
  return m?.[1];
}

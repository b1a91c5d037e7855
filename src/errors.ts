// One error catalog: every error a user or a client can meet has a stable code, a message that
// quotes the bad value, a hint with the next step and, where it meets a wire, its status.
// Callers match on `code`, never on message text. toWire() is the one mapping of an error to a
// wire reply (egress proxy, access tunnel, admin API). docs/errors.md documents every code (a test
// checks).

import { STATUS_CODES } from 'node:http';

export interface ErrorSpec {
  readonly message: string;
  readonly hint: string;
  readonly status?: number;
}

export const ERRORS = {
  GH_ERR_CONFIG_READ: {
    message: 'cannot read config file %s',
    hint: 'check the path given with -c and its permissions',
  },
  GH_ERR_CONFIG_INVALID: {
    message: 'config %s has %s problem(s)',
    hint: 'fix the lines listed above, then run `gatehouse validate -c FILE`',
  },
  GH_ERR_LISTEN: {
    message: 'cannot listen on %s',
    hint: 'another process may hold the port, or the address is not on this host',
  },
  GH_ERR_AUDIT_LOG: {
    message: 'cannot open the audit log %s: %s',
    hint: 'create its directory or change audit.log',
  },
  GH_ERR_WORKER_REFUSED: {
    message: 'worker %s refused the config: %s',
    hint: 'every worker keeps the last good config; fix what that worker could not load (often a file the config names) and reload',
  },
  GH_ERR_USAGE: {
    message: '%s',
    hint: 'see `gatehouse --help`',
  },
  GH_ERR_DIAL_REFUSED: {
    message: 'target %s refused the connection',
    hint: 'check that the target service is running and reachable from the gateway',
    status: 502,
  },
  GH_ERR_DIAL_TIMEOUT: {
    message: 'connecting to target %s timed out',
    hint: 'check routes and firewalls between the gateway and the target',
    status: 504,
  },
  GH_ERR_DIAL_FAILED: {
    message: 'connecting to target %s failed',
    hint: 'check the target address and the gateway network',
    status: 502,
  },
  GH_ERR_DNS_TIMEOUT: {
    message: 'resolving %s timed out after %s',
    hint: 'check that the DNS servers (resolver.servers, else /etc/resolv.conf) answer; resolver.timeout bounds the wait',
    status: 504,
  },
  GH_ERR_DENIED: {
    message: 'denied: %s',
    hint: 'run `gatehouse explain` to see which rule decided',
    status: 403,
  },
  GH_ERR_PKI: {
    message: '%s',
    hint: 'run `gatehouse pki --help`',
    status: 409,
  },
  GH_ERR_PKI_NOT_INITIALISED: {
    message: 'no PKI at %s',
    hint: 'run `gatehouse pki --pki DIR init-pki` first, or point --pki at an existing easy-rsa pki/ directory',
    status: 409,
  },
  GH_ERR_PKI_NO_CA: {
    message: 'the PKI at %s has no CA (%s is missing)',
    hint: 'run `gatehouse pki --pki DIR build-ca` first',
    status: 409,
  },
  GH_ERR_PKI_EXISTS: {
    message: '%s already exists: %s',
    hint: 'pick another name, or revoke the old certificate first (`gatehouse pki revoke NAME`)',
    status: 409,
  },
  GH_ERR_PKI_NOT_ISSUED: {
    message: 'no issued certificate named %s in %s',
    hint: 'run `gatehouse pki list` to see the issued names',
    status: 409,
  },
  GH_ERR_PKI_BAD_INPUT: {
    message: '%s',
    hint: 'see `gatehouse pki COMMAND --help` for the accepted values',
    status: 409,
  },
  GH_ERR_PKI_PASSPHRASE: {
    message: '%s',
    hint: 'give the passphrase with --passin pass:…|env:VAR|file:PATH (or EASYRSA_PASSIN), --passout for new keys',
    status: 409,
  },
  GH_ERR_PKI_CORRUPT: {
    message: '%s',
    hint: 'fix or restore the file named above (easy-rsa and openssl refuse it too), then retry',
    status: 409,
  },
  GH_ERR_PKI_IO: {
    message: 'cannot %s %s',
    hint: 'check the path and its permissions',
    status: 409,
  },
  GH_ERR_PKI_LOCKED: {
    message: 'the PKI at %s is locked by process %s',
    hint: 'wait for the other command to finish; if it died, remove the lock file named above',
    status: 409,
  },
  GH_ERR_ACCESS_CRL: {
    message: 'CRL %s refused: %s',
    hint: 'regenerate it with `gatehouse pki gen-crl`; the last good CRL stays in force meanwhile',
  },
  GH_ERR_REDIS_PASSWORD_FILE: {
    message: 'Redis user password file %s cannot be used: %s',
    hint: "write the ACL user's password into it, on one line; the last good password stays in force meanwhile",
  },
  GH_ERR_REDIS_LOGIN: {
    message: 'cannot log in to Redis node %s as user %s: %s',
    hint: "make the user's password file hold the password of that ACL user on every node (ACL SETUSER USER on >PASSWORD)",
  },
  GH_ERR_ACCESS_PROFILE: {
    message: 'client profile %s: %s',
    hint: 'write a new one with `gatehouse client-config ENDPOINT --client NAME -c CONFIG -o FILE`',
  },
  GH_ERR_ACCESS_REFUSED: {
    message: 'the access endpoint refused %s: %s',
    hint: 'a revoked or expired certificate needs a new one (`gatehouse pki build-client-full`); an unauthorized target needs an authorization rule for one of your groups',
    status: 403,
  },
  GH_ERR_ACCESS_BAD_TARGET: {
    message: 'CONNECT needs HOST:PORT (%s)',
    hint: 'connect to a target as HOST:PORT, e.g. `gatehouse connect ENDPOINT 10.0.1.5:6379`',
    status: 400,
  },
  GH_ERR_ACCESS_METHOD: {
    message: 'this endpoint only serves CONNECT',
    hint: 'use `gatehouse connect` or an HTTP CONNECT client; plain requests are not proxied',
    status: 405,
  },
  GH_ERR_LOGIN_REFUSED: {
    message: 'login refused: %s',
    hint: 'run `gatehouse login PROFILE` again; if it is refused again, show this message to the endpoint operator',
    status: 403,
  },
  GH_ERR_LOGIN_PROVIDER: {
    message: 'cannot reach the OpenID provider %s: %s',
    hint: 'the identity provider is down or unreachable from here; try again later, and check login.oidc.issuer (and its CA: NODE_EXTRA_CA_CERTS)',
    status: 503,
  },
  GH_ERR_LOGIN_UNAVAILABLE: {
    message: 'access endpoint %s has no login',
    hint: 'ask its operator for a client certificate (`gatehouse client-config ENDPOINT --client NAME`), or configure accessEndpoints.NAME.login',
    status: 404,
  },
  GH_ERR_LOGIN_CA: {
    message: 'the login CA cannot sign: %s',
    hint: 'the operator creates it with `gatehouse pki build-login-ca` (the root CA key is needed once)',
    status: 503,
  },
  GH_ERR_LOGIN_BAD_REQUEST: {
    message: 'bad login request: %s',
    hint: 'use `gatehouse login PROFILE`; it sends the ID token and a signing request as JSON to POST /gatehouse/login',
    status: 400,
  },
  GH_ERR_LOGIN_FLOW: {
    message: 'login with %s did not complete: %s',
    hint: 'run `gatehouse login PROFILE` again; on a machine without a browser use `gatehouse login PROFILE --device`',
  },
  GH_ERR_PROXY_AUTH_REQUIRED: {
    message: 'proxy authentication required (%s)',
    hint: 'send Basic credentials from the htpasswd file named in auth.htpasswd (curl -U user:pass, or http_proxy=http://user:pass@host:port)',
    status: 407,
  },
  GH_ERR_PRIVATE_DESTINATION: {
    message: 'destination %s is a %s address',
    hint: 'the destination guard refuses internal addresses; if this one is meant to be reached, list its CIDR in unsafeAllowPrivateDestinations',
    status: 403,
  },
  GH_ERR_PROXY_BAD_REQUEST: {
    message: 'bad proxy request: %s',
    hint: 'send absolute-form requests (GET http://host/path) or CONNECT host:port, as http_proxy/https_proxy clients do',
    status: 400,
  },
  GH_ERR_REQUEST_TIMEOUT: {
    message: 'the request headers did not arrive within %s',
    hint: 'the client was too slow to send its request; check the network between client and proxy',
    status: 408,
  },
  GH_ERR_HEADERS_TOO_LARGE: {
    message: 'the request headers exceed %s bytes',
    hint: 'send smaller headers, or raise maxHeaderSize of the egress proxy',
    status: 431,
  },
  GH_ERR_LIMIT: {
    message: 'limit reached: %s',
    hint: 'retry later or with fewer connections at once; the operator can raise the limit named in the reason (docs/configuration.md, Limits)',
    status: 503,
  },
  GH_ERR_EGRESS_FILE: {
    message: 'cannot load %s: %s',
    hint: 'fix the file; until then the last good version stays in force',
  },
  GH_ERR_AUDIT_STORE: {
    message: 'cannot open the audit store %s: %s',
    hint: 'create its directory, fix its permissions, or set audit.store to another file (or "none")',
  },
  GH_ERR_ADMIN_UNAUTHORIZED: {
    message: 'admin API: %s',
    hint: 'send the admin token as `Authorization: Bearer TOKEN` (admin.token, admin.tokenFile, or gatehouse-admin.token next to the config)',
    status: 401,
  },
  GH_ERR_ADMIN_NOT_FOUND: {
    message: 'admin API: no %s',
    hint: 'list what exists first (GET /api/sessions, /api/pki/certificates)',
    status: 404,
  },
  GH_ERR_ADMIN_BAD_REQUEST: {
    message: 'admin API: %s',
    hint: 'see docs/admin.md for the parameters each endpoint takes',
    status: 400,
  },
  GH_ERR_ADMIN_TOKEN: {
    message: 'admin token %s: %s',
    hint: 'give a token of at least 16 characters with admin.token or in the file named by admin.tokenFile',
  },
  GH_ERR_ADMIN_UNREACHABLE: {
    message: 'cannot reach the admin API at %s: %s',
    hint: 'is `gatehouse serve` running with admin.enabled? Point --admin at admin.listen, give --token or GATEHOUSE_ADMIN_TOKEN',
  },
  GH_ERR_ADMIN_TARGET: {
    message: 'no admin API to talk to: %s',
    hint: 'give -c FILE (its admin.listen and token are used), run the verb where ./gatehouse.yaml is, or give --admin URL (or GATEHOUSE_ADMIN_URL)',
  },
  GH_ERR_SESSION_NOT_FOUND: {
    message: 'no session %s',
    hint: 'list the live sessions with `gatehouse sessions` (GET /api/sessions); a session that ended is in `gatehouse audit --session ID`',
    status: 404,
  },
  GH_ERR_NO_LISTENER: {
    message: 'no listener on %s',
    hint: 'nothing would accept the connection: give the address and port of a listener (a bare port matches every address), as `gatehouse status` or the config lists them',
    status: 404,
  },
  GH_ERR_SERVICE_START: {
    message: '%s did not start: %s',
    hint: 'free the port or change its `listen` in the config; or set `optional: true` beside it to start without it',
  },
  GH_ERR_LOG_REOPEN: {
    message: 'cannot reopen %s: %s',
    hint: 'check that the directory exists and the daemon may write there; lines keep going to the file that was open',
    status: 500,
  },
  GH_ERR_INTERNAL: {
    message: 'internal error; see the daemon log',
    hint: 'this is a bug: report it with the daemon log line of the same time',
    status: 500,
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly status: number | undefined;
  readonly details: readonly string[];

  constructor(
    code: ErrorCode,
    args: readonly (string | number)[] = [],
    opts: { cause?: unknown; details?: readonly string[]; hint?: string } = {},
  ) {
    const spec: ErrorSpec = ERRORS[code];
    let i = 0;
    super(
      spec.message.replace(/%s/g, () => String(args[i++] ?? '')),
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.name = 'GatehouseError';
    this.code = code;
    this.hint = opts.hint ?? spec.hint;
    this.status = spec.status;
    this.details = opts.details ?? [];
  }
}

/** The header that names the reason (a decision reason or an error code) on every wire reply. */
export const REASON_HEADER = 'X-Gatehouse-Reason';

/** The status a code shows on a wire: the catalog's, 500 for a code the catalog gives none. */
export function statusOf(code: ErrorCode): number {
  return (ERRORS[code] as ErrorSpec).status ?? 500;
}

/** An error as a wire reply shows it: one shape for the egress proxy, the access tunnel and the admin API. */
export interface WireError {
  readonly status: number;
  readonly statusText: string;
  readonly code: ErrorCode;
  /** What REASON_HEADER carries: a decision reason where one decided, else the code. */
  readonly reason: string;
  readonly message: string;
  readonly hint: string;
  readonly details: readonly string[];
}

/**
 * The one error-to-wire mapper. A GatehouseError keeps its code, message and hint, and its status
 * comes from the catalog; anything else (a bug, an unexpected throw) is GH_ERR_INTERNAL, 500,
 * with a message that says nothing of the internals.
 */
export function toWire(err: unknown, reason?: string): WireError {
  const e = isGatehouseError(err) ? err : new GatehouseError('GH_ERR_INTERNAL');
  return { ...wireFor(e.code, reason ?? e.code, e.message), hint: e.hint, details: e.details };
}

/** The wire reply for `code` in a decision's own words (an authorization rule's, a certificate check's). */
export function wireFor(code: ErrorCode, reason: string, message: string): WireError {
  const status = statusOf(code);
  return {
    status,
    statusText: STATUS_CODES[status] ?? 'Error',
    code,
    reason,
    message,
    hint: ERRORS[code].hint,
    details: [],
  };
}

export function isGatehouseError(err: unknown): err is GatehouseError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as { code: string }).code in ERRORS
  );
}

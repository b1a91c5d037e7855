// `gatehouse connect` as a library: one tunnel, the local listeners the user asked for, and plain
// words for what goes wrong. Nothing here parses argv or exits: src/cli/connect.ts does.
import type net from 'node:net';
import { GatehouseError } from '../errors.js';
import { parseHostPort } from '../net/address.js';
import { certificateProblem, type ClientProfile } from './profile.js';
import { startForward, startSocks } from './local.js';
import { FATAL_REASONS, RefusedError, TunnelClient } from './tunnel.js';

export interface ForwardSpec {
  readonly localPort: number;
  readonly target: string;
}

/** "LOCALPORT:HOST:PORT" (HOST may be [v6]). */
export function parseForward(text: string): ForwardSpec {
  const m = /^(\d{1,5}):(.+)$/.exec(text);
  const target = m ? parseHostPort(m[2]!) : 'no local port';
  const localPort = m ? Number(m[1]) : NaN;
  if (!m || typeof target === 'string' || !(localPort >= 0 && localPort <= 65535)) {
    throw new GatehouseError('GH_ERR_USAGE', [
      `--forward "${text}" is not LOCALPORT:HOST:PORT${typeof target === 'string' ? ` (${target})` : ''}`,
    ]);
  }
  return { localPort, target: m[2]! };
}

export interface ConnectOptions {
  readonly forwards: readonly ForwardSpec[];
  readonly socks?: number;
  readonly bind: string;
  /** Human lines for the terminal. */
  readonly say: (line: string) => void;
  /** The profile's file, named in the advice to log in again. */
  readonly file?: string;
  /** Called when the certificate itself is refused: nothing will work until it is replaced. */
  readonly onFatal: (err: RefusedError | GatehouseError) => void;
}

export interface Connected {
  readonly tunnel: TunnelClient;
  readonly listeners: readonly { readonly what: string; readonly port: number }[];
  close(): Promise<void>;
}

export function explainRefusal(target: string, err: Error): string {
  if (err instanceof RefusedError) {
    const r = err.refusal;
    switch (r.reason) {
      case 'revoked':
        return 'the endpoint refused the connection: your client certificate is revoked';
      case 'expired':
        return 'the endpoint refused the connection: your client certificate has expired';
      case 'unknown_ca':
        return 'the endpoint refused the connection: your certificate is not from its CA';
      case 'not_in_authorized_group':
      case 'no_authorization_rule_matched':
        return `not authorized for ${target}: ${r.message}`;
      default:
        return `${target}: ${r.status} ${r.message}`;
    }
  }
  return `${target}: ${err.message}`;
}

export async function connect(profile: ClientProfile, opts: ConnectOptions): Promise<Connected> {
  const problem = certificateProblem(profile, new Date(), opts.file);
  if (problem)
    throw new GatehouseError(
      'GH_ERR_ACCESS_REFUSED',
      [profile.address, problem],
      profile.login
        ? { hint: `run \`gatehouse login ${opts.file ?? 'PROFILE'}\` for a new certificate` }
        : {},
    );
  const tunnel = new TunnelClient(profile);
  tunnel.on('retry', (delay, err) =>
    opts.say(
      `cannot reach ${profile.address} (${err.message}); retrying in ${Math.round(delay / 100) / 10} s`,
    ),
  );
  tunnel.on('connected', () =>
    opts.say(`connected to ${profile.endpoint} at ${profile.address} as ${profile.commonName}`),
  );
  tunnel.on('disconnected', () => opts.say(`disconnected from ${profile.address}; reconnecting on next use`));
  const events = {
    onRefused(target: string, err: Error) {
      opts.say(explainRefusal(target, err));
      if (err instanceof RefusedError && FATAL_REASONS.has(err.refusal.reason)) opts.onFatal(err);
    },
  };
  const servers: { what: string; server: net.Server }[] = [];
  try {
    for (const f of opts.forwards) {
      const server = await startForward(tunnel, opts.bind, f.localPort, f.target, events);
      servers.push({ what: `forward ${f.target}`, server });
    }
    if (opts.socks !== undefined) {
      servers.push({ what: 'socks5', server: await startSocks(tunnel, opts.bind, opts.socks, events) });
    }
  } catch (err) {
    for (const s of servers) s.server.close();
    throw new GatehouseError('GH_ERR_LISTEN', [`${opts.bind} (${(err as Error).message})`], { cause: err });
  }
  // Connect now so a wrong address or a refused certificate shows at start, not on first use.
  void tunnel.sessionReady().catch(() => {});
  return {
    tunnel,
    listeners: servers.map((s) => ({ what: s.what, port: (s.server.address() as net.AddressInfo).port })),
    async close() {
      tunnel.close();
      await Promise.all(servers.map((s) => new Promise((r) => s.server.close(r))));
    },
  };
}

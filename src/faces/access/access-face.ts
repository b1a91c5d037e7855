// The access endpoint face (the Client VPN equivalent): mTLS listeners whose clients are verified
// against the PKI's CA and CRL, identified by their certificate (common name, serial, groups),
// authorized per target by the endpoint's rules, then relayed. Two kinds of listener per endpoint:
// the tunnel (`listen`: HTTP CONNECT over HTTP/1.1 or HTTP/2) and direct TLS listeners (one fixed
// target each). This file keeps the state that outlives a config snapshot: TLS material, the CRL
// watcher, live verified connections (what revocation and the session timeout close).
import { X509Certificate } from 'node:crypto';
import { RefusalLog } from '../../pipeline/limits.js';
import { ConcurrencyGate } from '../../policy/connection-limits.js';
import { limitOf } from '../limits.js';
import path from 'node:path';
import type tls from 'node:tls';
import type { Config } from '../../config/schema.js';
import { formatHostPort } from '../../net/address.js';
import { watchFile, type FileWatcher } from '../../config/watch.js';
import type { CloseReason } from '../../pipeline/session-registry.js';
import { compileAuthorization } from '../../policy/authorization.js';
import type { CertificateSessions, ClientConnection, EndpointSpec } from './connection.js';
import { makeDirect, type DirectSpec } from './direct.js';
import type { AccessState, TlsFront } from './handshake.js';
import { makeTunnel } from './tunnel.js';
import { makeLoginState } from './login.js';
import { tlsMetrics } from './tls-metrics.js';
import {
  crlPath,
  loadServerCredentials,
  loadTrust,
  loginCrlPath,
  reloadCrl,
  revokedSerials,
  type ServerCredentials,
  tlsOptionsFor,
  type Trust,
} from './trust.js';
import type { FaceContext } from '../context.js';
import type { Face, FacePlan, ListenerRoute } from '../face.js';
import { directLineKey } from '../../policy/cluster-lines.js';
import { compileRedisUsers } from '../../policy/redis-users.js';
import { RedisPasswords } from './redis-passwords.js';

type Fronts = Map<string, Set<{ update(opts: tls.SecureContextOptions): void }>>;

interface AccessPlan extends FacePlan {
  /** The TLS fronts this snapshot's listeners make (current once the snapshot is applied). */
  readonly fronts: Fronts;
}

export interface AccessEndpointFace extends Face<AccessPlan> {
  /** Live verified client connections (for the admin API and tests). */
  connections(): readonly ClientConnection[];
  /** Close every connection (and its sessions) of a certificate serial; returns how many. */
  closeBySerial(serial: string, reason: CloseReason): number;
}

/** Every redisUsers password file of the config, as absolute paths. */
function passwordFiles(config: Config, baseDir: string): string[] {
  const files = new Set<string>();
  for (const ep of Object.values(config.accessEndpoints))
    for (const d of ep.directListeners)
      for (const u of d.redisUsers ?? []) files.add(path.resolve(baseDir, u.passwordFile));
  return [...files];
}

export function createAccessEndpointFace(): AccessEndpointFace {
  let pkiDir: string | undefined;
  let trust: Trust | undefined;
  const creds = new Map<string, ServerCredentials>();
  /** The notAfter of each server certificate in force, by its easy-rsa name. */
  const serverExpiry = new Map<string, Date>();
  const metrics = tlsMetrics({
    crlNextUpdate: () => trust?.crl?.nextUpdate,
    certificateExpiries: () => {
      const out = new Map(serverExpiry);
      if (trust) out.set('ca', new Date(trust.ca.validTo));
      return out;
    },
  });
  const options = new Map<string, tls.SecureContextOptions>();
  /**
   * TLS fronts by endpoint, kept current on CRL and certificate changes. Fronts are made per
   * snapshot, on first use: each plan has its own set, which becomes the current one once that
   * snapshot is applied (the old fronts carry no new clients).
   */
  let fronts: Fronts = new Map();
  const sessionTimeouts = new Map<string, number>();
  const live = new Set<ClientConnection>();
  /** By endpoint: its sessions per certificate, counted across snapshots (configured when one applies). */
  const certificateSessions = new Map<string, CertificateSessions>();
  const certificatesOf = (endpoint: string): CertificateSessions => {
    let c = certificateSessions.get(endpoint);
    if (!c) {
      c = {
        gate: new ConcurrencyGate('max_sessions_per_certificate', 'max_sessions_per_certificate'),
        log: new RefusalLog(),
      };
      certificateSessions.set(endpoint, c);
    }
    return c;
  };
  let crlWatcher: FileWatcher | undefined;
  let loginCrlWatcher: FileWatcher | undefined;
  const login = makeLoginState(
    () => trust?.pkiDir,
    () => onCrlChange(),
  );
  let timer: NodeJS.Timeout | undefined;
  let lastCtx: FaceContext | undefined;
  // The direct listeners' redisUsers password files (absolute paths), watched like the CRL.
  const passwords = new RedisPasswords();
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));

  const stateFor = (planFronts: Fronts): AccessState => ({
    trust: () => trust,
    tlsOptions: (endpoint) => options.get(endpoint),
    whenReady: () => ready,
    register(endpoint, front) {
      const set = planFronts.get(endpoint) ?? new Set();
      set.add(front);
      planFronts.set(endpoint, set);
    },
    track(conn) {
      live.add(conn);
      conn.socket.once('close', () => live.delete(conn));
    },
    login,
  });

  const rebuildContexts = () => {
    if (!trust) return;
    for (const [name, cred] of creds) {
      const opts = tlsOptionsFor(cred, trust);
      const prev = options.get(name);
      options.set(name, opts);
      if (prev === undefined || prev.crl !== opts.crl || prev.cert !== opts.cert || prev.key !== opts.key)
        for (const front of fronts.get(name) ?? []) front.update(opts);
    }
  };

  const closeWhere = (match: (c: ClientConnection) => boolean, reason: CloseReason): number => {
    let n = 0;
    for (const c of [...live]) {
      if (!match(c)) continue;
      c.close(reason);
      live.delete(c);
      n++;
    }
    return n;
  };

  const closeRevoked = () => {
    if (!trust) return;
    const revoked = revokedSerials(trust);
    if (revoked.size === 0) return;
    const n = closeWhere((c) => revoked.has(c.identity.serial), 'revoked');
    lastCtx?.sessions.closeWhere((s) => s.serial !== undefined && revoked.has(s.serial), 'revoked');
    if (n > 0) lastCtx?.log.info({ connections: n }, 'closed the connections of revoked certificates');
  };

  /** CA and CRL from scratch (first start, a new pki dir, or after a failed first load). */
  const loadFullTrust = async (dir: string) => {
    try {
      const loaded = await loadTrust(dir, (err) =>
        lastCtx?.log.error(
          { err, code: (err as { code?: string }).code, pki: dir },
          `the login CA is refused (login certificates are refused until it is fixed): ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
      if (pkiDir !== dir) return;
      trust = loaded;
      warnStaleCrl(loaded);
      rebuildContexts();
      closeRevoked();
    } catch (err) {
      lastCtx?.log.error(
        { err, code: (err as { code?: string }).code, pki: dir },
        `access endpoints cannot load the PKI (clients are refused until it loads): ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  };

  // Reloads run one after another, each from the Trust in force when it starts: two quick writes
  // of crl.pem cannot let the older file win.
  let crlChain = Promise.resolve();
  const onCrlChange = () => {
    crlChain = crlChain.then(async () => {
      const current = trust;
      if (!current) {
        if (pkiDir) await loadFullTrust(pkiDir);
        return;
      }
      try {
        const next = await reloadCrl(current);
        if (next === current || trust !== current) return;
        trust = next;
        rebuildContexts();
        warnStaleCrl(next);
        lastCtx?.log.info(
          {
            crl: crlPath(next.pkiDir),
            revoked: next.crl?.revoked.size ?? 0,
            ...(next.loginCa ? { loginRevoked: next.loginCa.crl?.revoked.size ?? 0 } : {}),
          },
          'CRL loaded',
        );
        closeRevoked();
      } catch (err) {
        lastCtx?.log.error(
          { err, code: (err as { code?: string }).code, crl: crlPath(current.pkiDir) },
          `CRL refused, keeping the last good one: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    });
  };

  const tick = () => {
    const now = Date.now();
    closeWhere((c) => {
      const limit = sessionTimeouts.get(c.endpoint);
      return limit !== undefined && now - c.startedAt.getTime() >= limit;
    }, 'session_timeout');
    // A certificate that expires mid-session ends its sessions as a new handshake would be refused.
    closeWhere((c) => c.identity.notAfter.getTime() <= now, 'certificate_expired');
  };

  const warnStaleCrl = (t: Trust) => {
    const next = t.crl?.nextUpdate;
    if (next && next.getTime() < Date.now())
      lastCtx?.log.warn(
        { crl: crlPath(t.pkiDir), nextUpdate: next.toISOString() },
        'the CRL is past its nextUpdate: TLS refuses every client until `gatehouse pki gen-crl` writes a new one',
      );
  };

  const stop = () => {
    serverExpiry.clear();
    crlWatcher?.close();
    crlWatcher = undefined;
    loginCrlWatcher?.close();
    loginCrlWatcher = undefined;
    pkiDir = undefined;
    trust = undefined;
    if (timer) clearInterval(timer);
    timer = undefined;
    passwords.close();
  };

  return {
    name: 'accessEndpoint',
    connections: () => [...live],
    closeBySerial: (serial, reason) => closeWhere((c) => c.identity.serial === serial, reason),

    plan(snapshot) {
      const { config, source, baseDir } = snapshot.loaded;
      const routes: ListenerRoute[] = [];
      // Loaded before the snapshot's listeners take clients (a file already loaded is kept).
      passwords.configure(passwordFiles(config, baseDir), lastCtx?.log);
      // Fronts are made per snapshot, on first use: forget the old ones (they carry no new clients).
      const planFronts: Fronts = new Map();
      const state = stateFor(planFronts);
      for (const [name, ep] of Object.entries(config.accessEndpoints)) {
        const spec: EndpointSpec = {
          name,
          config: ep,
          authz: compileAuthorization(name, ep, source),
          certificates: certificatesOf(name),
        };
        const listener = `${name}@${formatHostPort(ep.listen.host, ep.listen.port)}`;
        let tunnel: TlsFront | undefined;
        const limits = { values: ep.limits, path: ['accessEndpoints', name] };
        const proxied = (label: string) =>
          ep.proxyProtocol
            ? { limits, proxy: { trusted: ep.trustedProxies, face: 'accessEndpoint', listener: label } }
            : { limits };
        routes.push({
          bind: ep.listen,
          ...proxied(listener),
          handle: (socket, ctx) => {
            tunnel ??= makeTunnel(ctx, { endpoint: spec, listener }, state);
            tunnel.handle(socket);
          },
        });
        ep.directListeners.forEach((d, i) => {
          const engine = d.target.kind === 'cluster' ? config.clusters[d.target.cluster]?.engine : undefined;
          // A port range fronting a cluster is a cluster line (policy/cluster-lines.ts): one
          // public port per node, from the host's port map.
          const line =
            d.target.kind === 'cluster' && d.listen.lastPort > d.listen.port
              ? directLineKey(name, i)
              : undefined;
          const redisUsers = d.redisUsers && {
            policy: compileRedisUsers(d.redisUsers, source, [
              'accessEndpoints',
              name,
              'directListeners',
              i,
              'redisUsers',
            ]),
            password: (file: string) => passwords.get(path.resolve(baseDir, file)),
          };
          for (let port = d.listen.port; port <= d.listen.lastPort; port++) {
            const direct: DirectSpec = {
              endpoint: spec,
              listener: `${name}@${formatHostPort(d.listen.host, port)}`,
              target: d.target,
              dialect: engine === 'memcached' ? 'memcached' : 'resp',
              ...(line ? { line } : {}),
              ...(redisUsers ? { redisUsers } : {}),
            };
            let front: TlsFront | undefined;
            routes.push({
              bind: { host: d.listen.host, port },
              ...proxied(direct.listener),
              handle: (socket, ctx) => {
                front ??= makeDirect(direct, ctx, state);
                front.handle(socket);
              },
            });
          }
        });
      }
      return { routes, fronts: planFronts };
    },

    async applied(plan, snapshot, ctx) {
      lastCtx = ctx;
      ctx.metrics.register(metrics);
      fronts = plan.fronts;
      const { config, baseDir } = snapshot.loaded;
      const endpoints = Object.entries(config.accessEndpoints);
      sessionTimeouts.clear();
      for (const [name, ep] of endpoints) {
        sessionTimeouts.set(name, ep.sessionTimeout);
        const perCertificate = ep.limits.maxSessionsPerCertificate;
        const limit = limitOf(
          snapshot.loaded,
          ['accessEndpoints', name],
          'maxSessionsPerCertificate',
          perCertificate,
          ctx.workers,
        );
        certificatesOf(name).gate.configure(undefined, limit);
      }
      passwords.watch(passwordFiles(config, baseDir), ctx.log);
      for (const name of certificateSessions.keys())
        if (!config.accessEndpoints[name]) certificateSessions.delete(name);
      if (endpoints.length === 0) {
        stop();
        resolveReady();
        return;
      }
      const dir = path.resolve(baseDir, config.pki);
      if (dir !== pkiDir) {
        pkiDir = dir;
        trust = undefined;
        // Watched even when the first load fails: a fixed crl.pem then recovers without a reload.
        crlWatcher?.close();
        crlWatcher = watchFile(crlPath(dir), onCrlChange, { debounceMs: 50, pollMs: 250 });
        // The login CA's CRL (and the login CA itself, made on first login, which writes it).
        loginCrlWatcher?.close();
        loginCrlWatcher = watchFile(loginCrlPath(dir), onCrlChange, { debounceMs: 50, pollMs: 250 });
      }
      if (trust)
        onCrlChange(); // a reload also re-reads the CRL
      else await loadFullTrust(dir);
      creds.clear();
      serverExpiry.clear();
      for (const [name, ep] of endpoints) {
        try {
          const cred = loadServerCredentials(dir, ep.serverCertificate);
          const notAfter = new Date(new X509Certificate(cred.cert).validTo);
          creds.set(name, cred);
          serverExpiry.set(ep.serverCertificate, notAfter);
        } catch (err) {
          options.delete(name);
          ctx.log.error(
            { err, endpoint: name, certificate: ep.serverCertificate },
            `access endpoint ${name} cannot load its server certificate: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
      for (const name of [...options.keys()]) if (!creds.has(name)) options.delete(name);
      rebuildContexts();
      closeRevoked();
      timer ??= setInterval(tick, 1000);
      timer.unref();
      resolveReady();
    },

    shutdown() {
      stop();
    },
  };
}

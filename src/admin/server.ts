// The admin HTTP server: token check, console login (an HttpOnly SameSite=Strict cookie), the live
// session stream (server-sent events), the console's static files, and the API routes.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { auditChannel } from '../audit/events.js';
import type { AuditStore } from '../audit/store.js';
import { GatehouseError } from '../errors.js';
import type { AdminRuntime } from '../runtime/admin-view.js';
import { handleApi, sessionsView, type ApiContext } from './api.js';
import { parseCookies, readJsonBody, sendError, sendJson, sendStatic } from './http.js';
import { tokenMatches } from './token.js';

export interface AdminServer {
  readonly http: http.Server;
  listen(host: string, port: number): Promise<void>;
  close(): Promise<void>;
}

export interface AdminServerOptions {
  readonly runtime: AdminRuntime;
  readonly store: AuditStore | undefined;
  readonly log: Logger;
  /** The current token (it may change on reload). */
  readonly token: () => string;
}

const COOKIE = 'gh_admin';
const COOKIE_TTL_MS = 8 * 3600_000;

const STATIC: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/favicon.svg': ['favicon.svg', 'image/svg+xml'],
  // What a browser asks for when a page names no icon: the same SVG (browsers go by the type).
  '/favicon.ico': ['favicon.svg', 'image/svg+xml'],
};

/** The console's ES modules: app.js beside index.html and the pages in pages/, by name only. */
const MODULE = /^\/((?:pages\/)?[a-z][a-z-]*\.js)$/;

/** The file and type a GET of `pathname` serves from the console, if any. */
function staticFile(dir: string, pathname: string): [file: string, type: string] | undefined {
  const known = STATIC[pathname];
  if (known) return known;
  const m = MODULE.exec(pathname);
  if (m && fs.existsSync(path.join(dir, m[1]!))) return [m[1]!, 'text/javascript; charset=utf-8'];
  return undefined;
}

/** The console's files: next to this module under tsx, or in src/ when running from dist/. */
function consoleDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'console'), path.resolve(here, '..', '..', 'src', 'admin', 'console')];
  return candidates.find((d) => fs.existsSync(path.join(d, 'index.html'))) ?? candidates[0]!;
}

export function createAdminServer(opts: AdminServerOptions): AdminServer {
  const ctx: ApiContext = { runtime: opts.runtime, store: opts.store, log: opts.log };
  const dir = consoleDir();
  const cache = new Map<string, Buffer>();
  /** Console logins: cookie value → expiry (ms) and the token it logged in with (a new token ends them). */
  const logins = new Map<string, { exp: number; token: string }>();
  const streams = new Set<http.ServerResponse>();
  const sockets = new Set<Socket>();

  const authorized = (req: http.IncomingMessage): boolean => {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) return tokenMatches(auth.slice(7).trim(), opts.token());
    const sid = parseCookies(req.headers.cookie).get(COOKIE);
    if (!sid) return false;
    const login = logins.get(sid);
    if (login === undefined) return false;
    if (login.exp < Date.now() || !tokenMatches(login.token, opts.token())) {
      logins.delete(sid);
      return false;
    }
    return true;
  };

  const cookie = (value: string, maxAgeS: number) =>
    `${COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeS}`;

  // One snapshot broadcast to every open stream: on audit events (debounced) and every second.
  // Sessions may live in other processes (workers): the list is asked for, one ask at a time.
  let pending: NodeJS.Timeout | undefined;
  let asking = false;
  const broadcast = () => {
    pending = undefined;
    if (streams.size === 0 || asking) return;
    asking = true;
    void sessionsView(ctx)
      .then((list) => {
        const data = `event: sessions\ndata: ${JSON.stringify(list)}\n\n`;
        for (const s of streams) s.write(data);
      })
      .catch((err: unknown) => ctx.log.warn({ err }, 'console: cannot list sessions'))
      .finally(() => (asking = false));
  };
  const onAudit = () => {
    if (streams.size > 0 && !pending) pending = setTimeout(broadcast, 50);
  };
  const ticker = setInterval(broadcast, 1000);
  ticker.unref();
  auditChannel.subscribe(onAudit);

  const stream = (req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.write(`retry: 2000\n\n`);
    streams.add(res);
    req.once('close', () => streams.delete(res));
    void sessionsView(ctx).then(
      (list) => res.write(`event: sessions\ndata: ${JSON.stringify(list)}\n\n`),
      () => {},
    );
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const file = req.method === 'GET' ? staticFile(dir, url.pathname) : undefined;
    if (file) {
      let body = cache.get(file[0]);
      if (!body) {
        body = fs.readFileSync(path.join(dir, file[0]));
        cache.set(file[0], body);
      }
      sendStatic(res, file[1], body);
      return;
    }
    if (url.pathname === '/api/login' && req.method === 'POST') {
      const body = await readJsonBody(req);
      if (typeof body.token !== 'string' || !tokenMatches(body.token, opts.token()))
        throw new GatehouseError('GH_ERR_ADMIN_UNAUTHORIZED', ['wrong token']);
      const sid = randomBytes(24).toString('base64url');
      for (const [k, v] of logins) if (v.exp < Date.now()) logins.delete(k);
      logins.set(sid, { exp: Date.now() + COOKIE_TTL_MS, token: body.token });
      res.setHeader('set-cookie', cookie(sid, COOKIE_TTL_MS / 1000));
      sendJson(res, 200, { ok: true });
      return;
    }
    if (!url.pathname.startsWith('/api/'))
      throw new GatehouseError('GH_ERR_ADMIN_NOT_FOUND', [`page ${url.pathname}`]);
    if (!authorized(req)) {
      res.setHeader('www-authenticate', 'Bearer realm="gatehouse-admin"');
      throw new GatehouseError('GH_ERR_ADMIN_UNAUTHORIZED', ['missing or wrong token']);
    }
    if (url.pathname === '/api/logout' && req.method === 'POST') {
      const sid = parseCookies(req.headers.cookie).get(COOKIE);
      if (sid) logins.delete(sid);
      res.setHeader('set-cookie', cookie('', 0));
      sendJson(res, 200, { ok: true });
      return;
    }
    if (url.pathname === '/api/sessions/stream' && req.method === 'GET') {
      stream(req, res);
      return;
    }
    if (!(await handleApi(ctx, req, res, url)))
      throw new GatehouseError('GH_ERR_ADMIN_NOT_FOUND', [`endpoint ${req.method ?? ''} ${url.pathname}`]);
  };

  const server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!(err instanceof GatehouseError)) opts.log.error({ err, url: req.url }, 'admin API error');
      sendError(res, err);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  return {
    http: server,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port }, () => {
          server.removeListener('error', reject);
          server.on('error', (err) => opts.log.error({ err }, 'admin listener error'));
          resolve();
        });
      }),
    close: () =>
      new Promise((resolve) => {
        auditChannel.unsubscribe(onAudit);
        clearInterval(ticker);
        if (pending) clearTimeout(pending);
        for (const s of streams) s.end();
        streams.clear();
        if (!server.listening) {
          resolve();
          return;
        }
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

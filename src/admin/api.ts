// The admin API routes: status, listeners, sessions (+ terminate), audit queries and summaries,
// reload, policy + explain, PKI list + revoke. Each reads the runtime through AdminRuntime only.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { parseAuditQuery, parseTime } from '../audit/query.js';
import type { AuditStore } from '../audit/store.js';
import { chooseStep, denseTimeline, MAX_BUCKETS } from '../audit/timeline.js';
import { formatDuration, parseDuration } from '../config/duration.js';
import { GatehouseError, isGatehouseError } from '../errors.js';
import { VERSION } from '../version.js';
import { parseIp } from '../net/cidr.js';
import {
  certificateProfile,
  certificateView,
  listCertificates,
  loadCaCertificate,
  parseReason,
  resolvePassSpec,
  revokeAndPublish,
  type CertProfile,
  type RevocationReason,
} from '../pki/index.js';
import type { AdminRuntime } from '../runtime/admin-view.js';
import { badRequest, readJsonBody, sendJson } from './http.js';
import { configSummary, explainView, parseExplainTo, policyView } from './views.js';

export interface ApiContext {
  readonly runtime: AdminRuntime;
  readonly store: AuditStore | undefined;
  readonly log: Logger;
}

type Handler = (
  ctx: ApiContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  params: { match: RegExpExecArray; url: URL },
) => Promise<void> | void;

interface Route {
  readonly method: string;
  readonly path: RegExp;
  readonly handler: Handler;
}

function queryParams(url: URL): Record<string, string> {
  return Object.fromEntries(url.searchParams.entries());
}

function requireStore(ctx: ApiContext): AuditStore {
  if (!ctx.store) throw new GatehouseError('GH_ERR_ADMIN_NOT_FOUND', ['audit store (audit.store is "none")']);
  return ctx.store;
}

function pkiDir(ctx: ApiContext): string {
  const loaded = ctx.runtime.inspect().loaded;
  if (!loaded) throw new GatehouseError('GH_ERR_ADMIN_NOT_FOUND', ['running config']);
  return path.resolve(loaded.baseDir, loaded.config.pki);
}

/**
 * Revoke and publish the CRL, signed with the CA passphrase the daemon has: EASYRSA_PASSIN in its
 * environment, as easy-rsa and `gatehouse pki` read it (pass:, env: or file:; read at each use, so
 * a rotated file counts). Without one, an encrypted CA key refuses before anything changes.
 */
async function revokeSigned(dir: string, name: string, reason: RevocationReason | undefined) {
  const spec = process.env.EASYRSA_PASSIN;
  try {
    return await revokeAndPublish(dir, name, {
      ...(reason ? { reason } : {}),
      ...(spec ? { passin: resolvePassSpec(spec, 'EASYRSA_PASSIN') } : {}),
    });
  } catch (err) {
    if (!isGatehouseError(err) || err.code !== 'GH_ERR_PKI_PASSPHRASE') throw err;
    throw new GatehouseError('GH_ERR_PKI_PASSPHRASE', [`${err.message}; nothing was revoked`], {
      cause: err,
      hint: 'start the daemon with EASYRSA_PASSIN=file:PATH (or env:VAR) so it can sign the CRL, or revoke with `gatehouse pki revoke NAME` then `gatehouse pki gen-crl --passin …`',
    });
  }
}

async function sessionsView(ctx: ApiContext) {
  const list = await ctx.runtime.listSessions();
  const now = Date.now();
  return list.map((s) => ({
    ...s,
    startedAt: s.startedAt.toISOString(),
    durationMs: now - s.startedAt.getTime(),
  }));
}

export async function statusView(ctx: ApiContext): Promise<unknown> {
  const i = ctx.runtime.inspect();
  const sessions = await ctx.runtime.listSessions();
  const byFace: Record<string, number> = {};
  for (const s of sessions) byFace[s.face] = (byFace[s.face] ?? 0) + 1;
  return {
    version: VERSION,
    pid: process.pid,
    startedAt: i.startedAt.toISOString(),
    uptimeMs: Date.now() - i.startedAt.getTime(),
    config: configSummary(i.loaded),
    listening: i.listeners,
    sessions: { total: sessions.length, byFace },
    audit: ctx.store ? { store: ctx.store.file, rows: await ctx.store.count() } : null,
  };
}

function sinceParam(url: URL, fallback: string): number {
  const q = parseAuditQuery({ since: url.searchParams.get('since') ?? fallback });
  if ('problems' in q) throw badRequest(q.problems.join('; '));
  return q.query.since ?? 0;
}

/** The window, step and face of GET /api/audit/timeline (since 1h, until now, a step for ~60 buckets). */
function timelineParams(url: URL, now = Date.now()) {
  const p = url.searchParams;
  const time = (key: string, fallback: string) => {
    const t = parseTime(p.get(key) || fallback, now);
    if (typeof t === 'string') throw badRequest(`${key}: ${t}`);
    return t;
  };
  const since = time('since', '1h');
  const until = p.get('until') ? time('until', '') : now;
  if (until <= since) throw badRequest('until: must be after since');
  let stepMs = chooseStep(until - since);
  const step = p.get('step');
  if (step) {
    const d = parseDuration(step);
    if (typeof d === 'string' || d < 1000)
      throw badRequest(`step: ${typeof d === 'string' ? d : 'at least 1s'}`);
    stepMs = d;
  }
  if ((until - since) / stepMs > MAX_BUCKETS)
    throw badRequest(
      `step: ${formatDuration(stepMs)} cuts the window into more than ${MAX_BUCKETS} buckets; give a longer step`,
    );
  const face = p.get('face') || undefined;
  if (face !== undefined && !/^[A-Za-z]{1,64}$/.test(face))
    throw badRequest(
      `face: "${face.slice(0, 64)}" is not a face name (portForward, accessEndpoint, egressProxy)`,
    );
  return { since, until, stepMs, ...(face ? { face } : {}) };
}

export { sessionsView };

/**
 * What a certificate is for, from its file, so the console offers Revoke on client certificates
 * only (never on the gateway's own server certificate); undefined when the file is gone or unreadable.
 */
function certificateRole(file: string | undefined): CertProfile | undefined {
  if (file === undefined) return undefined;
  try {
    return certificateProfile(new X509Certificate(fs.readFileSync(file)));
  } catch {
    return undefined;
  }
}

/** The CA itself, as the certificate list shows it beside index.txt's (it is never in index.txt). */
function caView(dir: string) {
  const ca = loadCaCertificate(dir);
  return {
    name: 'ca',
    role: 'ca' as const,
    subject: `/${ca.subject.split('\n').join('/')}`,
    serial: ca.serialNumber.toUpperCase(),
    expires: new Date(ca.validTo).toISOString(),
  };
}

const routes: Route[] = [
  {
    method: 'GET',
    path: /^\/api\/status$/,
    handler: async (ctx, _q, res) => sendJson(res, 200, await statusView(ctx)),
  },
  {
    method: 'GET',
    path: /^\/api\/listeners$/,
    handler: (ctx, _q, res) => {
      const i = ctx.runtime.inspect();
      sendJson(res, 200, {
        configured: (configSummary(i.loaded) as { listeners?: unknown })?.listeners ?? [],
        listening: i.listeners,
      });
    },
  },
  {
    method: 'GET',
    path: /^\/api\/sessions$/,
    handler: async (ctx, _q, res) => sendJson(res, 200, { sessions: await sessionsView(ctx) }),
  },
  {
    method: 'DELETE',
    path: /^\/api\/sessions\/([^/]{1,128})$/,
    handler: (ctx, _q, res, { match }) => terminate(ctx, res, match[1]!),
  },
  {
    method: 'POST',
    path: /^\/api\/sessions\/([^/]{1,128})\/terminate$/,
    handler: (ctx, _q, res, { match }) => terminate(ctx, res, match[1]!),
  },
  {
    method: 'GET',
    path: /^\/api\/audit$/,
    handler: async (ctx, _q, res, { url }) => {
      const store = requireStore(ctx);
      const q = parseAuditQuery(queryParams(url));
      if ('problems' in q) throw badRequest(q.problems.join('; '));
      const events = await store.query(q.query);
      const last = events.at(-1);
      sendJson(res, 200, {
        events,
        ...(events.length === q.query.limit && last ? { next: last.id } : {}),
      });
    },
  },
  {
    method: 'GET',
    path: /^\/api\/audit\/summary$/,
    handler: async (ctx, _q, res, { url }) =>
      sendJson(res, 200, await requireStore(ctx).summary(sinceParam(url, '24h'))),
  },
  {
    method: 'GET',
    path: /^\/api\/audit\/timeline$/,
    handler: async (ctx, _q, res, { url }) => {
      const store = requireStore(ctx);
      const q = timelineParams(url);
      const rows = await store.timeline(q);
      sendJson(res, 200, denseTimeline(q.since, q.until, q.stepMs, rows));
    },
  },
  {
    method: 'GET',
    path: /^\/api\/egress$/,
    handler: async (ctx, _q, res, { url }) => {
      const s = await requireStore(ctx).summary(
        sinceParam(url, '24h'),
        Number(url.searchParams.get('top') ?? 10) || 10,
      );
      sendJson(res, 200, { since: s.since, ...s.egress });
    },
  },
  {
    method: 'POST',
    path: /^\/api\/reload$/,
    handler: async (ctx, _q, res) => {
      const outcome = await ctx.runtime.reload('api');
      sendJson(res, outcome.ok ? 200 : 409, outcome);
    },
  },
  {
    // logrotate's postrotate (or anyone): the audit log and access logs open again by their paths.
    method: 'POST',
    path: /^\/api\/logs\/reopen$/,
    handler: async (ctx, _q, res) => {
      const report = await ctx.runtime.reopenLogs();
      ctx.log.info({ trigger: 'api', ...report }, 'log files reopened');
      if (report.failed.length > 0)
        throw new GatehouseError(
          'GH_ERR_LOG_REOPEN',
          [report.failed.map((f) => f.file).join(', '), 'see details'],
          {
            details: [
              ...report.failed.map((f) => f.error),
              ...(report.reopened.length ? [`reopened: ${report.reopened.join(', ')}`] : []),
            ],
          },
        );
      sendJson(res, 200, report);
    },
  },
  {
    method: 'GET',
    path: /^\/api\/policy$/,
    handler: (ctx, _q, res) => sendJson(res, 200, policyView(ctx.runtime.inspect().loaded)),
  },
  {
    method: 'POST',
    path: /^\/api\/explain$/,
    handler: async (ctx, req, res) => {
      const body = await readJsonBody(req);
      const loaded = ctx.runtime.inspect().loaded;
      if (!loaded) throw new GatehouseError('GH_ERR_ADMIN_NOT_FOUND', ['running config']);
      const from = parseIp(String(body.from ?? ''));
      if (!from) throw badRequest(`from: "${String(body.from ?? '')}" is not an IP address`);
      const to = parseExplainTo(String(body.to ?? ''));
      if (typeof to === 'string') throw badRequest(`to: ${to}`);
      sendJson(res, 200, explainView(loaded, from, to));
    },
  },
  {
    method: 'GET',
    path: /^\/api\/pki\/certificates$/,
    handler: (ctx, _q, res) => {
      const dir = pkiDir(ctx);
      const inv = listCertificates(dir);
      sendJson(res, 200, {
        ca: caView(dir),
        certificates: inv.records.map((r) => ({ ...certificateView(r), role: certificateRole(r.file) })),
        warnings: inv.warnings,
      });
    },
  },
  {
    method: 'POST',
    path: /^\/api\/pki\/revoke$/,
    handler: async (ctx, req, res) => {
      const body = await readJsonBody(req);
      const name = typeof body.name === 'string' ? body.name : '';
      if (!name) throw badRequest('name: give the certificate name to revoke');
      const reason = typeof body.reason === 'string' && body.reason ? parseReason(body.reason) : undefined;
      const { revoked: r, crl } = await revokeSigned(pkiDir(ctx), name, reason);
      // The access endpoints watch crl.pem and close the live sessions of this certificate.
      ctx.log.info(
        { name: r.name, serial: r.serial, reason: r.reason, crl: crl.path, removed: r.removed },
        'certificate revoked from the admin API',
      );
      sendJson(res, 200, {
        revoked: { name: r.name, serial: r.serial, revokedAt: r.revokedAt.toISOString(), reason: r.reason },
        removed: r.removed,
        crl: { path: crl.path, revoked: crl.revokedCount, nextUpdate: crl.nextUpdate.toISOString() },
      });
    },
  },
];

/** Any id is looked up (a kernel flow's is "k…"), so an unknown one is "no session ID", never "no endpoint". */
async function terminate(ctx: ApiContext, res: http.ServerResponse, rawId: string): Promise<void> {
  let id: string;
  try {
    id = decodeURIComponent(rawId);
  } catch {
    throw badRequest(`session id "${rawId}" is not valid percent-encoding`);
  }
  if (!(await ctx.runtime.terminate(id))) throw new GatehouseError('GH_ERR_SESSION_NOT_FOUND', [id]);
  ctx.log.info({ session: id }, 'session terminated from the admin API');
  sendJson(res, 200, { terminated: id });
}

/** Dispatch an /api request; false when no route has that path. */
export async function handleApi(
  ctx: ApiContext,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
): Promise<boolean> {
  let pathMatched = false;
  for (const r of routes) {
    const match = r.path.exec(url.pathname);
    if (!match) continue;
    pathMatched = true;
    if (r.method !== req.method) continue;
    await r.handler(ctx, req, res, { match, url });
    return true;
  }
  if (pathMatched) throw badRequest(`${req.method ?? ''} is not allowed on ${url.pathname}`);
  return false;
}

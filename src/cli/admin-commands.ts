// CLI verbs for the admin API of a running daemon: status, sessions, terminate, audit, egress,
// reload. They talk HTTP to admin.listen with the admin token, and print readable tables (or --json).
import type { Command } from 'commander';
import { adminCall as call, adminTarget, type Target } from '../admin/api-client.js';
import { humanBytes, humanDuration, table } from '../admin/format.js';
import { exitCodeFor, printError } from './output.js';

interface AdminOpts {
  config?: string;
  admin?: string;
  token?: string;
  json?: boolean;
  verbose?: boolean;
}

function withAdminOptions(cmd: Command): Command {
  return cmd
    .option(
      '-c, --config <file>',
      'config file: admin.listen and the token file are read from it (default ./gatehouse.yaml)',
    )
    .option('--admin <url>', 'admin API URL (default from admin.listen, or $GATEHOUSE_ADMIN_URL)')
    .option('--token <token>', 'admin token (default $GATEHOUSE_ADMIN_TOKEN, admin.token, or the token file)')
    .option('--json', 'print the API answer as JSON')
    .option('-v, --verbose', 'say on stderr which config and admin API address are used')
    .addHelpText(
      'after',
      '\nThe admin API is found from --admin, then $GATEHOUSE_ADMIN_URL, then admin.listen of -c FILE\n' +
        '(or ./gatehouse.yaml); with none of them the verb stops with GH_ERR_ADMIN_TARGET.\n' +
        'Exit status: 0 done, 1 the daemon refused or cannot be reached, 2 bad usage.',
    );
}

/** The admin API of the running daemon, said on stderr with --verbose. */
function target(opts: AdminOpts): Target {
  const t = adminTarget(opts);
  if (opts.verbose)
    process.stderr.write(
      `gatehouse: config ${t.config ?? '(none)'}; admin API ${t.url} (from ${t.via}); token ${t.token ? 'given' : 'none'}\n`,
    );
  return t;
}

function run(fn: (opts: AdminOpts, ...args: string[]) => Promise<void>) {
  return async (...args: unknown[]) => {
    const cmd = args.at(-1) as Command;
    const opts = cmd.opts<AdminOpts>();
    try {
      await fn(opts, ...(args.slice(0, -2) as string[]));
    } catch (err) {
      printError(err);
      process.exitCode = exitCodeFor(err);
    }
  };
}

const out = (s: string): void => {
  process.stdout.write(s);
};

interface SessionRow {
  id: string;
  face: string;
  listener: string;
  source: string;
  target: string;
  identity?: string;
  bytesFromClient: number;
  bytesToClient: number;
  durationMs: number;
  /** The worker that holds the session, when the daemon runs several. */
  worker?: string;
}

interface EventRow {
  id: number;
  time: string;
  event: string;
  face: string;
  source: string;
  target?: string;
  identity?: string;
  allowed?: boolean;
  reason?: string;
  session?: string;
}

export function registerAdminClient(program: Command): void {
  withAdminOptions(
    program.command('status').description('status of the running daemon: faces, listeners, session counts'),
  ).action(
    run(async (opts) => {
      const s = (await call(target(opts), 'GET', '/api/status')) as {
        pid: number;
        uptimeMs: number;
        config?: { file: string; listeners: { face: string; what: string; bind: string }[] };
        sessions: { total: number; byFace: Record<string, number> };
        audit: { store: string; rows: number } | null;
      };
      if (opts.json) return out(JSON.stringify(s, null, 2) + '\n');
      out(`pid ${s.pid}, up ${humanDuration(s.uptimeMs)}, config ${s.config?.file ?? '-'}\n`);
      out(
        `sessions: ${s.sessions.total}${Object.entries(s.sessions.byFace)
          .map(([f, n]) => ` ${f}=${n}`)
          .join('')}\n`,
      );
      if (s.audit) out(`audit store: ${s.audit.store} (${s.audit.rows} events)\n`);
      out(
        '\n' +
          table(
            ['FACE', 'LISTENER', 'BIND'],
            (s.config?.listeners ?? []).map((l) => [l.face, l.what, l.bind]),
          ),
      );
    }),
  );

  withAdminOptions(program.command('sessions').description('live sessions of every face')).action(
    run(async (opts) => {
      const r = (await call(target(opts), 'GET', '/api/sessions')) as { sessions: SessionRow[] };
      if (opts.json) return out(JSON.stringify(r, null, 2) + '\n');
      if (r.sessions.length === 0) return out('no live sessions\n');
      // A WORKER column only when the daemon runs workers (one process lists none).
      const workers = r.sessions.some((s) => s.worker !== undefined);
      out(
        table(
          ['ID', ...(workers ? ['WORKER'] : []), 'FACE', 'SOURCE', 'TARGET', 'IDENTITY', 'AGE', 'IN', 'OUT'],
          r.sessions.map((s) => [
            s.id,
            ...(workers ? [s.worker ?? '-'] : []),
            s.face,
            s.source,
            s.target,
            s.identity ?? '-',
            humanDuration(s.durationMs),
            humanBytes(s.bytesFromClient),
            humanBytes(s.bytesToClient),
          ]),
        ),
      );
    }),
  );

  withAdminOptions(
    program
      .command('terminate')
      .argument('<id>', 'session id (see `gatehouse sessions`)')
      .description('close a live session'),
  ).action(
    run(async (opts, id) => {
      const r = await call(target(opts), 'DELETE', `/api/sessions/${encodeURIComponent(id ?? '')}`);
      out(opts.json ? JSON.stringify(r, null, 2) + '\n' : `terminated ${id}\n`);
    }),
  );

  withAdminOptions(
    program
      .command('audit')
      .description('query the audit store: connections, refusals and their reasons')
      .option('--since <when>', 'from this time: 1h, 30m, 7d ago, or an ISO time', '1h')
      .option('--until <when>', 'up to this time')
      .option('--face <face>', 'portForward, accessEndpoint or egressProxy')
      .option('--event <event>', 'accepted, denied, dialed, dial_failed or closed')
      .option('--decision <d>', 'allowed or denied')
      .option('--identity <name>', 'client certificate or proxy user')
      .option('--source <addr>', 'source address (with or without port)')
      .option('--target <text>', 'part of the target (host, address, URL)')
      .option('--session <id>', 'one session')
      .option('--limit <n>', 'at most this many events, newest first', '50'),
  ).action(
    run(async (opts) => {
      const o = opts as AdminOpts & Record<string, string | undefined>;
      const q = new URLSearchParams();
      for (const k of [
        'since',
        'until',
        'face',
        'event',
        'decision',
        'identity',
        'source',
        'target',
        'session',
        'limit',
      ])
        if (o[k]) q.set(k, o[k]);
      const r = (await call(target(opts), 'GET', `/api/audit?${q.toString()}`)) as {
        events: EventRow[];
      };
      if (opts.json) return out(JSON.stringify(r, null, 2) + '\n');
      if (r.events.length === 0) return out('no matching events\n');
      out(
        table(
          ['TIME', 'FACE', 'EVENT', 'DECISION', 'SOURCE', 'TARGET', 'IDENTITY', 'REASON'],
          r.events.map((e) => [
            e.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
            e.face,
            e.event,
            e.allowed === undefined
              ? e.event === 'denied'
                ? 'denied'
                : ''
              : e.allowed
                ? 'allowed'
                : 'denied',
            e.source,
            e.target ?? '',
            e.identity ?? '',
            e.reason ?? '',
          ]),
        ),
      );
    }),
  );

  withAdminOptions(
    program
      .command('egress')
      .description('egress proxies: allowed and denied counts, top domains')
      .option('--since <when>', 'from this time', '24h'),
  ).action(
    run(async (opts) => {
      const since = (opts as { since?: string }).since ?? '24h';
      const r = (await call(target(opts), 'GET', `/api/egress?since=${encodeURIComponent(since)}`)) as {
        allowed: number;
        denied: number;
        topAllowed: { host: string; count: number }[];
        topDenied: { host: string; count: number; reason: string | null }[];
      };
      if (opts.json) return out(JSON.stringify(r, null, 2) + '\n');
      out(`since ${since}: ${r.allowed} allowed, ${r.denied} denied\n\n`);
      out(
        table(
          ['ALLOWED HOST', 'COUNT'],
          r.topAllowed.map((h) => [h.host, String(h.count)]),
        ) + '\n',
      );
      out(
        table(
          ['DENIED HOST', 'COUNT', 'REASON'],
          r.topDenied.map((h) => [h.host, String(h.count), h.reason ?? '']),
        ),
      );
    }),
  );

  withAdminOptions(
    program.command('reload').description('reload the config of the running daemon (as SIGHUP does)'),
  ).action(
    run(async (opts) => {
      const r = (await call(target(opts), 'POST', '/api/reload')) as {
        ok: boolean;
        report?: { started: string[]; stopped: string[]; kept: string[] };
      };
      if (opts.json) return out(JSON.stringify(r, null, 2) + '\n');
      const rep = r.report;
      out(
        rep
          ? `reloaded: ${rep.started.length} started, ${rep.stopped.length} stopped, ${rep.kept.length} kept\n`
          : 'reloaded\n',
      );
    }),
  );
}

// The Gatehouse console: plain browser JavaScript, no framework, no build step. Every page reads the
// admin API; the sessions page follows /api/sessions/stream (server-sent events). Text reaches the
// page through textContent only, never as HTML.
/* global document, window, sessionStorage, fetch, EventSource, location, confirm, URLSearchParams */

const TOKEN_KEY = 'gatehouse-admin-token';
const view = document.getElementById('view');
const flashBox = document.getElementById('flash');
let stream;

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof window.Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function flash(text, error) {
  flashBox.textContent = text ?? '';
  flashBox.className = error ? 'error' : '';
}

async function api(method, path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const value = await res.json().catch(() => ({}));
  if (res.status === 401) {
    showLogin('The token was refused; log in again.');
    throw new Error('unauthorized');
  }
  if (!res.ok) {
    const e = value.error ?? {};
    const err = new Error(
      `${e.code ?? res.status}: ${e.message ?? 'request failed'}${e.hint ? ` — ${e.hint}` : ''}`,
    );
    err.value = value;
    throw err;
  }
  return value;
}

function table(headers, rows, attrs) {
  return h(
    'table',
    attrs,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map((x) => h('th', null, x)),
      ),
    ),
    h(
      'tbody',
      null,
      rows.length ? rows : h('tr', null, h('td', { colspan: headers.length, class: 'muted' }, 'none')),
    ),
  );
}

function bytes(n) {
  if (n === undefined || n === null) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function age(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function decision(e) {
  const d = e.allowed === true ? 'allowed' : e.allowed === false || e.event === 'denied' ? 'denied' : '';
  return h('span', { class: d }, d);
}

function card(label, value, id) {
  return h(
    'div',
    { class: 'card', 'data-testid': id },
    h('div', { class: 'big' }, value),
    h('div', { class: 'label' }, label),
  );
}

// ---- pages ----

async function overview() {
  const [s, sum] = await Promise.all([
    api('GET', '/api/status'),
    api('GET', '/api/audit/summary?since=24h').catch(() => null),
  ]);
  const faces = s.config?.faces ?? {};
  const listeners = s.config?.listeners ?? [];
  view.replaceChildren(
    h('h1', null, 'Overview'),
    h(
      'div',
      { class: 'cards' },
      card('live sessions', s.sessions.total, 'live-sessions'),
      card('access endpoints', (faces.accessEndpoints ?? []).length),
      card('port forward groups', (faces.portForwards ?? []).length),
      card('egress proxies', (faces.egressProxies ?? []).length),
      card('listeners', s.listening.length),
      card('audit events stored', s.audit ? s.audit.rows : 'off'),
    ),
    h('p', { class: 'muted' }, `pid ${s.pid}, up ${age(s.uptimeMs)}, config ${s.config?.file ?? '-'}`),
    h('h2', null, 'Listeners'),
    table(
      ['face', 'what', 'bind', 'groups', 'where'],
      listeners.map((l) =>
        h(
          'tr',
          null,
          h('td', null, l.face),
          h('td', null, l.what),
          h('td', { class: 'mono' }, l.bind),
          h('td', null, l.groups.join(', ')),
          h('td', { class: 'mono muted' }, l.where),
        ),
      ),
    ),
    h('h2', null, 'Decisions in the last 24 h'),
    sum
      ? table(
          ['face', 'allowed', 'denied', 'other events'],
          sum.byFace.map((f) =>
            h(
              'tr',
              null,
              h('td', null, f.face),
              h('td', { class: 'num allowed' }, f.allowed),
              h('td', { class: 'num denied' }, f.denied),
              h('td', { class: 'num' }, f.other),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'no audit store'),
  );
}

function sessions() {
  const status = h('span', { class: 'live', 'data-testid': 'stream-state' });
  const body = h('tbody');
  const count = h('span', { 'data-testid': 'session-count' }, '0');
  view.replaceChildren(
    h('h1', null, status, 'Live sessions (', count, ')'),
    h(
      'table',
      { 'data-testid': 'sessions' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['id', 'face', 'listener', 'source', 'target', 'identity', 'age', 'in', 'out', ''].map((x) =>
            h('th', null, x),
          ),
        ),
      ),
      body,
    ),
  );
  const render = (list) => {
    count.textContent = String(list.length);
    body.replaceChildren(
      ...(list.length
        ? list.map((s) =>
            h(
              'tr',
              { 'data-session': s.id },
              h('td', { class: 'mono' }, s.id),
              h('td', null, s.face),
              h('td', { class: 'mono' }, s.listener),
              h('td', { class: 'mono' }, s.source),
              h('td', { class: 'mono' }, s.target),
              h('td', null, s.identity ?? '-'),
              h('td', { class: 'num' }, age(s.durationMs)),
              h('td', { class: 'num' }, bytes(s.bytesFromClient)),
              h('td', { class: 'num' }, bytes(s.bytesToClient)),
              h(
                'td',
                null,
                h(
                  'button',
                  {
                    class: 'danger',
                    type: 'button',
                    'data-terminate': s.id,
                    onclick: async (ev) => {
                      ev.target.disabled = true;
                      try {
                        await api('DELETE', `/api/sessions/${s.id}`);
                        flash(`Session ${s.id} terminated.`);
                      } catch (err) {
                        flash(err.message, true);
                        ev.target.disabled = false;
                      }
                    },
                  },
                  'Terminate',
                ),
              ),
            ),
          )
        : [h('tr', null, h('td', { colspan: 10, class: 'muted' }, 'no live sessions'))]),
    );
  };
  stream = new EventSource('/api/sessions/stream');
  stream.addEventListener('open', () => status.classList.add('on'));
  stream.addEventListener('error', () => status.classList.remove('on'));
  stream.addEventListener('sessions', (e) => render(JSON.parse(e.data)));
}

async function policy() {
  const p = await api('GET', '/api/policy');
  const result = h('div', { 'data-testid': 'explain-result' });
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const data = new window.FormData(form);
        try {
          const r = await api('POST', '/api/explain', { from: data.get('from'), to: data.get('to') });
          result.replaceChildren(
            ...(r.results.length
              ? r.results.map((x) =>
                  h(
                    'div',
                    { class: 'card' },
                    h(
                      'div',
                      null,
                      h(
                        'span',
                        { class: x.allowed ? 'allowed' : 'denied' },
                        x.allowed ? 'ALLOWED' : 'DENIED',
                      ),
                      ` ${r.from} → ${x.listener.bind} (${x.listener.what}, ${x.listener.where})`,
                      x.target ? ` → ${x.target}` : '',
                    ),
                    h(
                      'ul',
                      null,
                      x.steps.map((s) =>
                        h('li', null, h('strong', null, s.step), ` ${s.subject}: ${s.text}`),
                      ),
                    ),
                  ),
                )
              : [h('p', null, `No listener on ${r.to}: nothing would accept the connection.`)]),
          );
        } catch (err) {
          result.replaceChildren(h('p', { class: 'denied' }, err.message));
        }
      },
    },
    h(
      'label',
      null,
      'from (client IP)',
      h('input', { name: 'from', placeholder: '203.0.113.7', required: true }),
    ),
    h(
      'label',
      null,
      'to (listener address:port or port)',
      h('input', { name: 'to', placeholder: '0.0.0.0:6380', required: true }),
    ),
    h('button', { type: 'submit' }, 'Explain'),
  );
  const ruleRows = (rules, dir) =>
    rules.map((r) =>
      h(
        'tr',
        null,
        h('td', null, dir),
        h('td', null, r.protocol),
        h('td', { class: 'mono' }, r.ports),
        h('td', { class: 'mono' }, r.source ?? r.destination),
        h('td', null, r.description ?? ''),
        h('td', { class: 'mono muted' }, r.where),
      ),
    );
  view.replaceChildren(
    h('h1', null, 'Policy'),
    h('h2', null, 'Explain a connection'),
    form,
    result,
    h('h2', null, 'Security groups'),
    ...(p.securityGroups.length
      ? p.securityGroups.map((g) =>
          h(
            'div',
            null,
            h('h2', null, g.name, ' ', h('span', { class: 'muted mono' }, g.where)),
            g.members.length
              ? h('p', null, 'members: ', h('span', { class: 'mono' }, g.members.join(', ')))
              : null,
            table(
              ['direction', 'protocol', 'ports', 'peer', 'description', 'where'],
              [
                ...ruleRows(g.ingress, 'ingress'),
                ...(g.egress === null
                  ? [
                      h(
                        'tr',
                        null,
                        h('td', null, 'egress'),
                        h('td', { colspan: 5, class: 'muted' }, 'unrestricted (no egress rules)'),
                      ),
                    ]
                  : ruleRows(g.egress, 'egress')),
              ],
            ),
          ),
        )
      : [h('p', { class: 'muted' }, 'no security groups')]),
    h('h2', null, 'Authorization rules (access endpoints)'),
    table(
      ['endpoint', 'target', 'ports', 'groups', 'description', 'where'],
      p.authorizationRules.map((r) =>
        h(
          'tr',
          null,
          h('td', null, r.endpoint),
          h('td', { class: 'mono' }, r.target),
          h('td', { class: 'mono' }, r.ports ?? 'all'),
          h('td', null, r.allGroups ? 'all groups' : (r.groups ?? []).join(', ')),
          h('td', null, r.description ?? ''),
          h('td', { class: 'mono muted' }, r.where),
        ),
      ),
    ),
  );
}

async function log() {
  const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
  if (!params.has('since')) params.set('since', '1h');
  const field = (name, label, placeholder) =>
    h('label', null, label, h('input', { name, value: params.get(name) ?? '', placeholder }));
  const select = (name, label, options) =>
    h(
      'label',
      null,
      label,
      h(
        'select',
        { name },
        options.map((o) => h('option', { value: o, selected: params.get(name) === o }, o || 'any')),
      ),
    );
  const form = h(
    'form',
    {
      class: 'filters',
      onsubmit: (ev) => {
        ev.preventDefault();
        const q = new URLSearchParams();
        for (const [k, v] of new window.FormData(form)) if (v) q.set(k, String(v));
        location.hash = `#log?${q.toString()}`;
      },
    },
    field('since', 'since', '1h, 7d or ISO time'),
    field('until', 'until', ''),
    select('face', 'face', ['', 'portForward', 'accessEndpoint', 'egressProxy']),
    select('event', 'event', ['', 'accepted', 'denied', 'dialed', 'dial_failed', 'closed']),
    select('decision', 'decision', ['', 'allowed', 'denied']),
    field('identity', 'identity', 'alice'),
    field('source', 'source', '10.0.0.5'),
    field('target', 'target', 'example.com'),
    field('limit', 'limit', '100'),
    h('button', { type: 'submit' }, 'Filter'),
  );
  view.replaceChildren(h('h1', null, 'Connection log'), form, h('p', { class: 'muted' }, 'loading…'));
  const r = await api('GET', `/api/audit?${params.toString()}`);
  view.replaceChildren(
    h('h1', null, 'Connection log'),
    form,
    table(
      ['time', 'face', 'event', 'decision', 'source', 'target', 'identity', 'reason', 'rule', 'session'],
      r.events.map((e) =>
        h(
          'tr',
          null,
          h('td', { class: 'mono' }, e.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z')),
          h('td', null, e.face),
          h('td', null, e.event),
          h('td', null, decision(e)),
          h('td', { class: 'mono' }, e.source),
          h('td', { class: 'mono' }, e.target ?? ''),
          h('td', null, e.identity ?? ''),
          h('td', null, e.reason ?? ''),
          h(
            'td',
            { class: 'muted' },
            e.rule ? `${e.rule}${e.where ? ` (${e.where})` : ''}` : (e.where ?? ''),
          ),
          h('td', { class: 'mono muted' }, e.session ?? ''),
        ),
      ),
      { 'data-testid': 'audit' },
    ),
    r.next
      ? h(
          'p',
          null,
          h(
            'button',
            {
              type: 'button',
              'data-testid': 'older',
              onclick: () => {
                params.set('before', String(r.next));
                location.hash = `#log?${params.toString()}`;
              },
            },
            'Older events',
          ),
        )
      : null,
  );
}

async function egress() {
  const r = await api('GET', '/api/egress?since=24h&top=15');
  view.replaceChildren(
    h('h1', null, 'Egress (last 24 h)'),
    h(
      'div',
      { class: 'cards' },
      card('allowed requests', r.allowed, 'egress-allowed'),
      card('denied requests', r.denied, 'egress-denied'),
    ),
    h(
      'div',
      { class: 'cols' },
      h(
        'div',
        null,
        h('h2', null, 'Top allowed domains'),
        table(
          ['host', 'requests'],
          r.topAllowed.map((x) =>
            h('tr', null, h('td', { class: 'mono' }, x.host), h('td', { class: 'num' }, x.count)),
          ),
        ),
      ),
      h(
        'div',
        null,
        h('h2', null, 'Top denied domains'),
        table(
          ['host', 'requests', 'reason'],
          r.topDenied.map((x) =>
            h(
              'tr',
              null,
              h('td', { class: 'mono' }, x.host),
              h('td', { class: 'num' }, x.count),
              h('td', null, x.reason ?? ''),
            ),
          ),
        ),
      ),
    ),
  );
}

async function certificates() {
  const r = await api('GET', '/api/pki/certificates');
  view.replaceChildren(
    h('h1', null, 'Certificates'),
    ...r.warnings.map((w) => h('p', { class: 'denied' }, w)),
    table(
      ['name', 'status', 'serial', 'subject', 'expires', 'revoked', ''],
      r.certificates.map((c) =>
        h(
          'tr',
          { 'data-cert': c.name },
          h('td', null, c.name),
          h('td', { class: c.status === 'valid' ? 'allowed' : 'denied' }, c.status),
          h('td', { class: 'mono' }, c.serial),
          h('td', { class: 'mono' }, c.subject),
          h('td', null, c.expires.slice(0, 10)),
          h('td', null, c.revokedAt ? `${c.revokedAt.slice(0, 19)}Z ${c.reason ?? ''}` : ''),
          h(
            'td',
            null,
            c.status === 'valid'
              ? h(
                  'button',
                  {
                    class: 'danger',
                    type: 'button',
                    'data-revoke': c.name,
                    onclick: async () => {
                      if (
                        !confirm(
                          `Revoke ${c.name}? Its live sessions are closed and it cannot be used again.`,
                        )
                      )
                        return;
                      try {
                        const x = await api('POST', '/api/pki/revoke', { name: c.name });
                        flash(
                          `Revoked ${x.revoked.name} (serial ${x.revoked.serial}); CRL written with ${x.crl.revoked} entries.`,
                        );
                        await certificates();
                      } catch (err) {
                        flash(err.message, true);
                      }
                    },
                  },
                  'Revoke',
                )
              : null,
          ),
        ),
      ),
      { 'data-testid': 'certificates' },
    ),
  );
}

const PAGES = { overview, sessions, policy, log, egress, certificates };

async function route() {
  if (stream) {
    stream.close();
    stream = undefined;
  }
  const name = (location.hash.slice(1).split('?')[0] || 'overview').toLowerCase();
  const page = PAGES[name] ?? overview;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === name);
  view.dataset.page = name;
  flash('');
  try {
    await page();
  } catch (err) {
    if (err.message !== 'unauthorized')
      view.replaceChildren(h('h1', null, name), h('p', { class: 'denied' }, err.message));
  }
}

function showLogin(message) {
  if (stream) stream.close();
  stream = undefined;
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById('login').hidden = false;
  for (const id of ['nav', 'reload', 'logout']) document.getElementById(id).hidden = true;
  view.replaceChildren();
  flash(message, Boolean(message));
}

function showApp() {
  document.getElementById('login').hidden = true;
  for (const id of ['nav', 'reload', 'logout']) document.getElementById(id).hidden = false;
  flash('');
  return route();
}

// The token goes once to /api/login, which sets an HttpOnly SameSite=Strict cookie (what the live
// stream uses); API calls also send it as a Bearer header, from sessionStorage (gone with the tab).
async function login(token) {
  const res = await fetch('/api/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (!res.ok) {
    showLogin('Wrong token.');
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  await showApp();
}

document.getElementById('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = document.getElementById('token');
  const token = input.value.trim();
  input.value = '';
  await login(token);
});

document.getElementById('logout').addEventListener('click', async () => {
  await api('POST', '/api/logout').catch(() => {});
  showLogin('Logged out.');
});

document.getElementById('reload').addEventListener('click', async () => {
  try {
    const r = await api('POST', '/api/reload');
    flash(
      `Config reloaded: ${r.report.started.length} started, ${r.report.stopped.length} stopped, ${r.report.kept.length} kept.`,
    );
  } catch (err) {
    const problems = err.value?.error?.problems ?? [];
    flash(`${err.message}${problems.length ? `: ${problems.join('; ')}` : ''}`, true);
  }
});

window.addEventListener('hashchange', () => {
  if (!document.getElementById('nav').hidden) void route();
});

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) void login(saved);
else showLogin('');

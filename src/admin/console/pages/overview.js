// Overview: what runs (faces, listeners with FILE:LINE), live sessions, and for the chosen window
// the traffic charts and the decisions per face. Every card counts what a table beside it lists.
import { api } from '../api.js';
import { card, h, mount, table } from '../dom.js';
import { age } from '../format.js';
import { trafficCharts, windowOf, windowPicker, windowStart } from '../traffic.js';

export async function overview(el, params) {
  const win = windowOf(params);
  const since = windowStart(win);
  const [s, sum, charts] = await Promise.all([
    api('GET', '/api/status'),
    api('GET', `/api/audit/summary?since=${encodeURIComponent(since)}`).catch(() => null),
    trafficCharts(since).catch((err) => h('p', { class: 'denied' }, err.message)),
  ]);
  const faces = s.config?.faces ?? {};
  const listeners = s.config?.listeners ?? [];
  mount(
    el,
    h('h1', null, 'Overview'),
    h(
      'div',
      { class: 'cards' },
      card('live sessions', s.sessions.total, 'live-sessions'),
      card('access endpoints', (faces.accessEndpoints ?? []).length),
      card('port forward groups', (faces.portForwards ?? []).length),
      card('egress proxies', (faces.egressProxies ?? []).length),
      card('listeners', listeners.length, 'listener-count'),
      card('audit events stored', s.audit ? s.audit.rows : 'off'),
    ),
    h('p', { class: 'muted' }, `pid ${s.pid}, up ${age(s.uptimeMs)}, config ${s.config?.file ?? '-'}`),
    h(
      'div',
      { class: 'section-head' },
      h('h2', null, `Traffic in the last ${win}`),
      windowPicker('overview', win),
    ),
    sum ? charts : h('p', { class: 'muted' }, 'no audit store'),
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
      { 'data-testid': 'listeners' },
    ),
    h('h2', null, `Decisions in the last ${win}`),
    sum
      ? table(
          ['face', 'allowed', 'denied', 'other events'],
          sum.byFace.map((f) =>
            h(
              'tr',
              { 'data-face': f.face },
              h('td', null, f.face),
              h('td', { class: 'num allowed' }, f.allowed),
              h('td', { class: 'num denied' }, f.denied),
              h('td', { class: 'num' }, f.other),
            ),
          ),
          { 'data-testid': 'decisions' },
        )
      : h('p', { class: 'muted' }, 'no audit store'),
  );
}

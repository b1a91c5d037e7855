// Egress: for the chosen window, allowed and denied requests of the egress proxies, their traffic
// charts, and the hosts most allowed and most denied.
import { api } from '../api.js';
import { card, h, mount, table } from '../dom.js';
import { trafficCharts, windowOf, windowPicker, windowStart } from '../traffic.js';

export async function egress(el, params) {
  const win = windowOf(params);
  const since = windowStart(win);
  const [r, charts] = await Promise.all([
    api('GET', `/api/egress?since=${encodeURIComponent(since)}&top=15`),
    trafficCharts(since, 'egressProxy').catch((err) => h('p', { class: 'denied' }, err.message)),
  ]);
  mount(
    el,
    h('div', { class: 'section-head' }, h('h1', null, `Egress (last ${win})`), windowPicker('egress', win)),
    h(
      'div',
      { class: 'cards' },
      card('allowed requests', r.allowed, 'egress-allowed'),
      card('denied requests', r.denied, 'egress-denied'),
    ),
    charts,
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

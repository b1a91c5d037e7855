// Policy: security groups and authorization rules with FILE:LINE, and the explain form (what would
// happen to a connection from an address to a listener).
/* global window */
import { api } from '../api.js';
import { h, mount, table } from '../dom.js';

function explainResult(r) {
  if (!r.results.length)
    return [h('p', null, `No listener on ${r.to}: nothing would accept the connection.`)];
  return r.results.map((x) =>
    h(
      'div',
      { class: 'card' },
      h(
        'div',
        null,
        h('span', { class: x.allowed ? 'allowed' : 'denied' }, x.allowed ? 'ALLOWED' : 'DENIED'),
        ` ${r.from} → ${x.listener.bind} (${x.listener.what}, ${x.listener.where})`,
        x.target ? ` → ${x.target}` : '',
      ),
      h(
        'ul',
        null,
        x.steps.map((s) => h('li', null, h('strong', null, s.step), ` ${s.subject}: ${s.text}`)),
      ),
    ),
  );
}

function explainForm(result) {
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const data = new window.FormData(form);
        try {
          const r = await api('POST', '/api/explain', { from: data.get('from'), to: data.get('to') });
          mount(result, explainResult(r));
        } catch (err) {
          mount(result, h('p', { class: 'denied' }, err.message));
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
  return form;
}

function ruleRows(rules, dir) {
  return rules.map((r) =>
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
}

function group(g) {
  return h(
    'div',
    null,
    h('h2', null, g.name, ' ', h('span', { class: 'muted mono' }, g.where)),
    g.members.length ? h('p', null, 'members: ', h('span', { class: 'mono' }, g.members.join(', '))) : null,
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
  );
}

export async function policy(el) {
  const p = await api('GET', '/api/policy');
  const result = h('div', { 'data-testid': 'explain-result' });
  mount(
    el,
    h('h1', null, 'Policy'),
    h('h2', null, 'Explain a connection'),
    explainForm(result),
    result,
    h('h2', null, 'Security groups'),
    p.securityGroups.length ? p.securityGroups.map(group) : h('p', { class: 'muted' }, 'no security groups'),
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

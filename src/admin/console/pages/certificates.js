// Certificates: the CA and one row per name of index.txt (the current certificate; earlier ones of
// the same name, revoked or renewed, folded under it). Revoke is offered on valid client
// certificates only: never on the CA or a server certificate (the gateway's own).
/* global confirm */
import { api } from '../api.js';
import { flash, h, mount, table } from '../dom.js';
import { time } from '../format.js';

const REVOCABLE = new Set(['client', 'other']);

/** One entry per name: the current certificate (valid first, then the latest to expire) and the rest. */
function byName(certificates) {
  const groups = new Map();
  for (const c of certificates) groups.set(c.name, [...(groups.get(c.name) ?? []), c]);
  const rank = (c) => (c.status === 'valid' ? 0 : 1);
  return [...groups.values()].map((list) => {
    const sorted = [...list].sort(
      (a, b) => rank(a) - rank(b) || Date.parse(b.expires) - Date.parse(a.expires),
    );
    return { current: sorted[0], earlier: sorted.slice(1) };
  });
}

function revokeButton(c, el) {
  return h(
    'button',
    {
      class: 'danger',
      type: 'button',
      'data-revoke': c.name,
      onclick: async () => {
        if (!confirm(`Revoke ${c.name}? Its live sessions are closed and it cannot be used again.`)) return;
        try {
          const x = await api('POST', '/api/pki/revoke', { name: c.name });
          flash(
            `Revoked ${x.revoked.name} (serial ${x.revoked.serial}); CRL written with ${x.crl.revoked} entries.`,
          );
          await certificates(el);
        } catch (err) {
          flash(err.message, true);
        }
      },
    },
    'Revoke',
  );
}

function earlierList(earlier) {
  if (!earlier.length) return null;
  return h(
    'details',
    { class: 'earlier' },
    h('summary', { class: 'muted' }, `${earlier.length} earlier`),
    h(
      'ul',
      null,
      earlier.map((e) =>
        h(
          'li',
          { 'data-serial': e.serial },
          h('span', { class: 'mono' }, e.serial),
          ` ${e.status}`,
          e.revokedAt ? ` ${time(e.revokedAt)}` : '',
          e.reason ? ` (${e.reason})` : '',
        ),
      ),
    ),
  );
}

function row({ current: c, earlier }, el) {
  const canRevoke = c.status === 'valid' && REVOCABLE.has(c.role);
  return h(
    'tr',
    { 'data-cert': c.name, 'data-role': c.role ?? 'unknown' },
    h('td', null, c.name, earlierList(earlier)),
    h('td', null, c.role ?? '?'),
    h('td', { class: c.status === 'valid' ? 'allowed' : 'denied' }, c.status),
    h('td', { class: 'mono' }, c.serial),
    h('td', { class: 'mono' }, c.subject),
    h('td', { class: 'nowrap' }, c.expires.slice(0, 10)),
    h('td', null, c.revokedAt ? `${time(c.revokedAt)} ${c.reason ?? ''}` : ''),
    h('td', null, canRevoke ? revokeButton(c, el) : null),
  );
}

export async function certificates(el) {
  const r = await api('GET', '/api/pki/certificates');
  const ca = r.ca
    ? h(
        'tr',
        { 'data-cert': 'ca', 'data-role': 'ca', class: 'ca' },
        h('td', null, 'ca'),
        h('td', null, 'CA'),
        h('td', { class: 'allowed' }, 'valid'),
        h('td', { class: 'mono' }, r.ca.serial),
        h('td', { class: 'mono' }, r.ca.subject),
        h('td', { class: 'nowrap' }, r.ca.expires.slice(0, 10)),
        h('td', null, ''),
        h('td', null, ''),
      )
    : null;
  mount(
    el,
    h('h1', null, 'Certificates'),
    r.warnings.map((w) => h('p', { class: 'denied' }, w)),
    table(
      ['name', 'role', 'status', 'serial', 'subject', 'expires', 'revoked', ''],
      [ca, ...byName(r.certificates).map((g) => row(g, el))].filter(Boolean),
      { 'data-testid': 'certificates' },
    ),
  );
}

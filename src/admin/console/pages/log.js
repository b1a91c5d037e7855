// The connection log: the audit store with its filters (kept in the hash: #log?since=1h&face=…),
// newest first, paged with "Older events".
/* global window, location, URLSearchParams */
import { api } from '../api.js';
import { breakable, h, mount, table } from '../dom.js';
import { time } from '../format.js';

/** The event, marked and coloured by what it decided (✓ allowed, ✗ denied; nothing when it decided nothing). */
function eventCell(e) {
  const d = e.allowed === true ? 'allowed' : e.allowed === false || e.event === 'denied' ? 'denied' : '';
  const mark = d === 'allowed' ? '✓ ' : d === 'denied' ? '✗ ' : '';
  return h('td', { class: 'nowrap' }, h('span', { class: d || null, title: d || null }, mark, e.event));
}

/** The rule and the file:line that decided, the file by its name only (the full path on hover). */
function ruleCell(e) {
  const where = e.where ? e.where.split('/').at(-1) : '';
  const text = e.rule ? `${e.rule}${where ? ` (${where})` : ''}` : where;
  return h('td', { class: 'muted', title: e.where || null }, breakable(text));
}

function filters(params) {
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
  return form;
}

function row(e) {
  return h(
    'tr',
    null,
    h('td', { class: 'mono nowrap' }, time(e.time)),
    h('td', null, breakable(e.face)),
    eventCell(e),
    h('td', { class: 'mono nowrap' }, e.source),
    h('td', { class: 'mono' }, e.target ?? ''),
    h('td', null, e.identity ?? ''),
    h('td', null, breakable(e.reason ?? '')),
    ruleCell(e),
    h('td', { class: 'mono' }, e.session ?? ''),
  );
}

export async function log(el, params) {
  if (!params.has('since')) params.set('since', '1h');
  const form = filters(params);
  mount(el, h('h1', null, 'Connection log'), form, h('p', { class: 'muted' }, 'loading…'));
  const r = await api('GET', `/api/audit?${params.toString()}`);
  const older = () => {
    params.set('before', String(r.next));
    location.hash = `#log?${params.toString()}`;
  };
  mount(
    el,
    h('h1', null, 'Connection log'),
    form,
    table(
      ['time', 'face', 'event', 'source', 'target', 'identity', 'reason', 'rule', 'session'],
      r.events.map(row),
      { 'data-testid': 'audit', class: 'log' },
    ),
    r.next
      ? h('p', null, h('button', { type: 'button', 'data-testid': 'older', onclick: older }, 'Older events'))
      : null,
  );
}

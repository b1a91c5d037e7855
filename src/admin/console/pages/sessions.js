// Live sessions, following the stream (no reload): a Terminate button per row; the worker and the
// fleet replica that hold a session get a column only when some session names one.
import { api } from '../api.js';
import { flash, h, mount } from '../dom.js';
import { age, bytes } from '../format.js';
import { followSessions } from '../stream.js';

function terminateButton(id) {
  return h(
    'button',
    {
      class: 'danger',
      type: 'button',
      'data-terminate': id,
      onclick: async (ev) => {
        ev.target.disabled = true;
        try {
          await api('DELETE', `/api/sessions/${id}`);
          flash(`Session ${id} terminated.`);
        } catch (err) {
          flash(err.message, true);
          ev.target.disabled = false;
        }
      },
    },
    'Terminate',
  );
}

/** The columns: [header, cell of a session, the td's class]; worker and replica only when present. */
function columns(list) {
  const has = (k) => list.some((s) => s[k] !== undefined && s[k] !== null);
  return [
    ['id', (s) => s.id, 'mono'],
    ...(has('replica') ? [['replica', (s) => s.replica ?? '-', 'mono']] : []),
    ...(has('worker') ? [['worker', (s) => s.worker ?? '-', 'mono']] : []),
    ['face', (s) => s.face],
    ['listener', (s) => s.listener, 'mono'],
    ['source', (s) => s.source, 'mono nowrap'],
    ['target', (s) => s.target, 'mono'],
    ['identity', (s) => s.identity ?? '-'],
    ['age', (s) => age(s.durationMs), 'num nowrap'],
    ['in', (s) => bytes(s.bytesFromClient), 'num nowrap'],
    ['out', (s) => bytes(s.bytesToClient), 'num nowrap'],
    ['', (s) => terminateButton(s.id)],
  ];
}

export function sessions(el) {
  const status = h('span', { class: 'live', 'data-testid': 'stream-state' });
  const head = h('thead');
  const body = h('tbody');
  const count = h('span', { 'data-testid': 'session-count' }, '0');
  mount(
    el,
    h('h1', null, status, 'Live sessions (', count, ')'),
    h('table', { 'data-testid': 'sessions' }, head, body),
  );
  const render = (list) => {
    const cols = columns(list);
    count.textContent = String(list.length);
    mount(
      head,
      h(
        'tr',
        null,
        cols.map(([name]) => h('th', { 'data-column': name || null }, name)),
      ),
    );
    mount(
      body,
      list.length
        ? list.map((s) =>
            h(
              'tr',
              { 'data-session': s.id },
              cols.map(([, cell, cls]) => h('td', { class: cls }, cell(s))),
            ),
          )
        : h('tr', null, h('td', { colspan: cols.length, class: 'muted' }, 'no live sessions')),
    );
  };
  render([]);
  return followSessions(render, (on) => status.classList.toggle('on', on));
}

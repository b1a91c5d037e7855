// The window a page shows (15m … 7d, in the page's hash: #overview?since=1h) and the traffic charts
// of that window from GET /api/audit/timeline: allowed and denied connections per face, and bytes
// through each listener (of sessions that closed in the window).
/* global URLSearchParams */
import { api } from './api.js';
import { mirroredChart } from './charts.js';
import { h } from './dom.js';
import { bytes } from './format.js';

const WINDOWS = { '15m': 900_000, '1h': 3_600_000, '6h': 21_600_000, '24h': 86_400_000, '7d': 604_800_000 };

/** The window named in the hash's `since`, or the fallback. */
export function windowOf(params, fallback = '24h') {
  const w = params.get('since');
  return w && w in WINDOWS ? w : fallback;
}

/** The window's start as an ISO time, taken once so every query of a page counts the same events. */
export function windowStart(win, now = Date.now()) {
  return new Date(now - WINDOWS[win]).toISOString();
}

export function windowPicker(page, current) {
  return h(
    'nav',
    { class: 'windows', 'aria-label': 'time window' },
    'last ',
    Object.keys(WINDOWS).map((w) =>
      h('a', { href: `#${page}?since=${w}`, class: w === current ? 'active' : null, 'data-window': w }, w),
    ),
  );
}

/** The two charts for [since, now), of one face or of all. */
export async function trafficCharts(since, face) {
  const q = new URLSearchParams({ since });
  if (face) q.set('face', face);
  const t = await api('GET', `/api/audit/timeline?${q.toString()}`);
  const count = (n) => String(n);
  const connections = t.faces.length
    ? mirroredChart({
        id: 'connections',
        caption: 'Connections',
        buckets: t.buckets,
        stepMs: t.stepMs,
        rows: t.faces.map((f) => ({ key: f.face, label: f.face, up: f.allowed, down: f.denied })),
        up: { label: 'allowed', class: 'allowed' },
        down: { label: 'denied', class: 'denied' },
        format: count,
      })
    : h('p', { class: 'muted', 'data-chart': 'connections' }, 'No connections in this window.');
  const traffic = t.listeners.length
    ? mirroredChart({
        id: 'bytes',
        caption: 'Bytes through each listener',
        buckets: t.buckets,
        stepMs: t.stepMs,
        rows: t.listeners.map((l) => ({
          key: l.listener,
          label: l.listener,
          up: l.bytesFromClient,
          down: l.bytesToClient,
        })),
        up: { label: 'from clients', class: 'inbound' },
        down: { label: 'to clients', class: 'outbound' },
        format: bytes,
      })
    : h('p', { class: 'muted', 'data-chart': 'bytes' }, 'No session closed in this window.');
  return h('div', { class: 'charts' }, connections, traffic);
}

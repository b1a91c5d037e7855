// The Gatehouse console: plain browser ES modules, no framework, no build step. This module is the
// shell: the login screen, the header's buttons, and a router from the hash (#log?since=1h) to one
// page module in pages/. Each page reads the admin API and draws into #view; text reaches the page
// through text nodes only, never as HTML (dom.js).
/* global document, window, location, URLSearchParams */
import { api, forgetToken, login, onUnauthorized, savedToken } from './api.js';
import { flash, h, mount } from './dom.js';
import { closeSessions } from './stream.js';
import { certificates } from './pages/certificates.js';
import { egress } from './pages/egress.js';
import { log } from './pages/log.js';
import { overview } from './pages/overview.js';
import { policy } from './pages/policy.js';
import { sessions } from './pages/sessions.js';

const PAGES = { overview, sessions, policy, log, egress, certificates };
const view = document.getElementById('view');
const chrome = ['nav', 'reload', 'logout'].map((id) => document.getElementById(id));
const loginBox = document.getElementById('login');
/** Counts routes, so a page that answers after the user moved on does not draw over the next one. */
let generation = 0;

async function route() {
  closeSessions();
  const [path, query] = location.hash.slice(1).split('?');
  const name = (path || 'overview').toLowerCase();
  const page = PAGES[name] ?? overview;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === name);
  const mine = ++generation;
  // A page draws into a detached element, put in place only if it is still the current route.
  const el = h('div');
  // What tests wait on: the route drawn (the hash) and whether its page has finished loading.
  view.dataset.page = name;
  view.dataset.route = location.hash;
  view.dataset.ready = 'false';
  flash('');
  try {
    const drawing = page(el, new URLSearchParams(query ?? ''));
    if (mine === generation) mount(view, el);
    await drawing;
  } catch (err) {
    if (err.message !== 'unauthorized' && mine === generation)
      mount(view, h('h1', null, name), h('p', { class: 'denied' }, err.message));
  }
  if (mine === generation) view.dataset.ready = 'true';
}

function showLogin(message) {
  generation++;
  closeSessions();
  forgetToken();
  loginBox.hidden = false;
  for (const el of chrome) el.hidden = true;
  mount(view);
  flash(message, Boolean(message));
}

async function enter(token) {
  if (!(await login(token))) {
    showLogin('Wrong token.');
    return;
  }
  loginBox.hidden = true;
  for (const el of chrome) el.hidden = false;
  await route();
}

onUnauthorized(showLogin);

document.getElementById('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = document.getElementById('token');
  const token = input.value.trim();
  input.value = '';
  await enter(token);
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
  if (loginBox.hidden) void route();
});

const saved = savedToken();
if (saved) void enter(saved);
else showLogin('');

// The admin API as the console calls it: the token (kept in the tab's sessionStorage and sent as a
// Bearer header), JSON in and out, errors as Error with the API's code, message and hint. A 401
// hands over to whoever set onUnauthorized (the login screen).
/* global sessionStorage, fetch */

const TOKEN_KEY = 'gatehouse-admin-token';
let unauthorized = () => {};

export function onUnauthorized(fn) {
  unauthorized = fn;
}

export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export async function api(method, path, body) {
  const token = savedToken();
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
    unauthorized('The token was refused; log in again.');
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

// The token goes once to /api/login, which sets an HttpOnly SameSite=Strict cookie (what the live
// stream uses); API calls also send it as a Bearer header, from sessionStorage (gone with the tab).
/** True when the daemon took the token (it is then kept for this tab). */
export async function login(token) {
  const res = await fetch('/api/login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  if (!res.ok) return false;
  sessionStorage.setItem(TOKEN_KEY, token);
  return true;
}

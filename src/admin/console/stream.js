// The live session list: /api/sessions/stream (server-sent events, authorized by the login cookie)
// sends the whole list on every change and each second. One stream at a time.
/* global EventSource */

let current;

/** Follow the list: onList(sessions) on each message, onState(true|false) as the stream opens or fails. */
export function followSessions(onList, onState) {
  closeSessions();
  const stream = new EventSource('/api/sessions/stream');
  stream.addEventListener('open', () => onState(true));
  stream.addEventListener('error', () => onState(false));
  stream.addEventListener('sessions', (e) => onList(JSON.parse(e.data)));
  current = stream;
  return closeSessions;
}

export function closeSessions() {
  current?.close();
  current = undefined;
}

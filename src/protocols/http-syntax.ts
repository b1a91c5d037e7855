// RFC 9110 token and field-value checks, by character table: these run for every header of every
// proxied request and response, where regular expressions and split() showed up in profiles.

const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TOKEN_CHARS[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TOKEN_CHARS[c] = 1;
for (let c = 65; c <= 90; c++) TOKEN_CHARS[c] = 1;
for (let c = 97; c <= 122; c++) TOKEN_CHARS[c] = 1;

/** A non-empty RFC 9110 token (method, header name). */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN_CHARS[c] === 0) return false;
  }
  return true;
}

/** True when a field value holds a control character other than HTAB (CR, LF, NUL, DEL …). */
export function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return true;
  }
  return false;
}

/** A field value without the spaces and tabs around it. */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** Does a comma-separated header value (Connection, Transfer-Encoding) list `token`? */
export function hasListToken(list: string, token: string): boolean {
  for (const part of list.split(',')) if (trimOws(part).toLowerCase() === token) return true;
  return false;
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ERRORS, GatehouseError, isGatehouseError, toWire, type ErrorCode } from '../../src/errors.js';

test('every error code is documented in docs/errors.md', () => {
  const doc = fs.readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const missing = Object.keys(ERRORS).filter((code) => !doc.includes(`\`${code}\``));
  assert.deepEqual(missing, [], `document these codes in docs/errors.md: ${missing.join(', ')}`);
});

test('errors quote their values, keep their cause, and are recognised by code', () => {
  const cause = new Error('ECONNREFUSED');
  const err = new GatehouseError('GH_ERR_DIAL_REFUSED', ['10.0.1.5:6379'], { cause });
  assert.equal(err.message, 'target 10.0.1.5:6379 refused the connection');
  assert.equal(err.status, 502);
  assert.equal(err.cause, cause);
  assert.ok(isGatehouseError(err));
  assert.ok(!isGatehouseError(Object.assign(new Error('x'), { code: 'ENOENT' })));
});

test('the status column of docs/errors.md is the status every wire shows (toWire)', () => {
  const doc = fs.readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Map<string, string>();
  for (const m of doc.matchAll(/^\| `(GH_ERR_[A-Z_]+)`\s*\|\s*(\d*)\s*\|/gm)) documented.set(m[1]!, m[2]!);
  const wrong = Object.keys(ERRORS).filter((code) => {
    const wire = toWire(new GatehouseError(code as ErrorCode)).status;
    const doc = documented.get(code);
    // No status in the doc: the code never meets a wire of its own, and 500 is what a wire shows.
    return doc === '' ? wire !== 500 : Number(doc) !== wire;
  });
  assert.deepEqual(
    wrong,
    [],
    `docs/errors.md and src/errors.ts disagree on the status of ${wrong.join(', ')}`,
  );
});

test('toWire: the catalog decides status and reason; what is not a GatehouseError is a bare 500', () => {
  const denied = toWire(new GatehouseError('GH_ERR_DENIED', ['x']), 'not_in_allowlist');
  assert.equal(denied.status, 403);
  assert.equal(denied.statusText, 'Forbidden');
  assert.equal(denied.reason, 'not_in_allowlist');
  assert.equal(toWire(new GatehouseError('GH_ERR_PKI_EXISTS', ['a', 'b'])).status, 409);
  assert.equal(toWire(new GatehouseError('GH_ERR_DIAL_TIMEOUT', ['a'])).reason, 'GH_ERR_DIAL_TIMEOUT');
  const internal = toWire(new TypeError('secret detail at /srv/key.pem'));
  assert.equal(internal.status, 500);
  assert.equal(internal.code, 'GH_ERR_INTERNAL');
  assert.doesNotMatch(internal.message, /secret|key\.pem/);
});

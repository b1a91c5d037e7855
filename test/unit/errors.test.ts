import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ERRORS, GatehouseError, isGatehouseError } from '../../src/errors.js';

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

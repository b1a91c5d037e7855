// docs/metrics.md against the code: every metric name the sources register has a row there, and
// every row names a metric the sources have (the names are an interface, like the error codes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

test('every metric in src/ is documented in docs/metrics.md, and nothing else is', () => {
  const inCode = new Set<string>();
  for (const file of sources(path.join(ROOT, 'src')))
    // Every metric is declared with `name: '…'`, as prom-client's constructors take it.
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/name: '(gatehouse_[a-z_]+)'/g)) inCode.add(m[1]!);
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'metrics.md'), 'utf8');
  const rows = new Set([...doc.matchAll(/^\| `(gatehouse_[a-z_]+)`/gm)].map((m) => m[1]!));
  assert.ok(inCode.size >= 20, `found only ${inCode.size} metric names in src/`);
  assert.deepEqual([...inCode].filter((n) => !rows.has(n)).sort(), [], 'metrics without a row');
  assert.deepEqual([...rows].filter((n) => !inCode.has(n)).sort(), [], 'rows without a metric');
});

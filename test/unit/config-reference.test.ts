// docs/configuration.md against the schema it documents: every key path the zod schema accepts has
// a row (and no row names a key the schema lacks), every default the schema declares is written in
// that key's row, and required keys say so. Also: README.md and docs/*.md link only to files that
// exist inside the repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema } from '../../src/config/schema.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REFERENCE = path.join(ROOT, 'docs', 'configuration.md');

interface SchemaKey {
  readonly path: string;
  /** Neither optional nor defaulted. */
  readonly required: boolean;
  /** Each default met on the way to the key's type, with the schema it defaults. */
  readonly defaults: readonly { readonly value: unknown; readonly schema: z.ZodType }[];
}

interface Unwrapped {
  readonly core: z.ZodType;
  readonly optional: boolean;
  readonly defaults: { value: unknown; schema: z.ZodType }[];
}

/** Peel the wrappers (optional, default, pipe, …) off a schema down to what gives it structure. */
function unwrap(schema: z.ZodType): Unwrapped {
  let s: z.ZodType = schema;
  let optional = false;
  const defaults: { value: unknown; schema: z.ZodType }[] = [];
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
      optional = true;
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault) {
      const inner = s.unwrap() as z.ZodType;
      const value = (s.def as { defaultValue: unknown }).defaultValue;
      // A prefault is input (`{}`, whose keys then take their own defaults): compare it parsed.
      defaults.push({ value: s instanceof z.ZodPrefault ? inner.parse(value) : value, schema: inner });
      s = inner;
    } else if (s instanceof z.ZodCatch || s instanceof z.ZodReadonly) {
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodPipe) {
      // A transform after a schema: the input side is what a config file writes. A preprocess
      // (a transform first): the schema after it.
      s = (s.in instanceof z.ZodTransform ? s.out : s.in) as z.ZodType;
    } else if (s instanceof z.ZodLazy) {
      s = s.unwrap() as z.ZodType;
    } else {
      return { core: s, optional, defaults };
    }
  }
}

/** Every key path of a schema: "a.b", "a.<name>" for a record entry, "a[].b" inside an array. */
function schemaKeys(root: z.ZodType): SchemaKey[] {
  const keys = new Map<string, SchemaKey>();
  const emit = (key: SchemaKey) => {
    const seen = keys.get(key.path);
    // The same key in two options of a union: required only if both require it.
    keys.set(
      key.path,
      seen
        ? {
            path: key.path,
            required: seen.required && key.required,
            defaults: [...seen.defaults, ...key.defaults],
          }
        : key,
    );
  };
  const structure = (schema: z.ZodType, at: string) => {
    const { core } = unwrap(schema);
    if (core instanceof z.ZodObject) {
      for (const [name, child] of Object.entries(core.shape as Record<string, z.ZodType>)) {
        const childPath = at ? `${at}.${name}` : name;
        const u = unwrap(child);
        emit({ path: childPath, required: !u.optional && u.defaults.length === 0, defaults: u.defaults });
        structure(child, childPath);
      }
    } else if (core instanceof z.ZodRecord) {
      const entry = `${at}.<name>`;
      emit({ path: entry, required: false, defaults: [] });
      structure(core.valueType as z.ZodType, entry);
    } else if (core instanceof z.ZodArray) {
      structure(core.element as z.ZodType, `${at}[]`);
    } else if (core instanceof z.ZodUnion) {
      for (const option of core.options as readonly z.ZodType[]) structure(option, at);
    } else if (core instanceof z.ZodIntersection) {
      structure(core.def.left as z.ZodType, at);
      structure(core.def.right as z.ZodType, at);
    }
  };
  structure(root, '');
  return [...keys.values()];
}

interface DocRow {
  readonly key: string;
  readonly line: number;
  readonly defaultCell: string;
  readonly reloadCell: string;
}

function cells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((c) => c.trim());
}

/** The rows of every table whose header starts with "Key" and has "Default" and "Reload" columns. */
function referenceRows(markdown: string): DocRow[] {
  const lines = markdown.split('\n');
  const rows: DocRow[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.trim().startsWith('|')) continue;
    const header = cells(lines[i]!).map((c) => c.toLowerCase());
    const start = i;
    while (i + 1 < lines.length && lines[i + 1]!.trim().startsWith('|')) i++;
    if (header[0] !== 'key') continue;
    const def = header.indexOf('default');
    const reload = header.indexOf('reload');
    assert.ok(
      def > 0 && reload > 0,
      `docs/configuration.md:${start + 1}: a key table needs Default and Reload`,
    );
    for (let j = start + 2; j <= i; j++) {
      const row = cells(lines[j]!);
      const key = /^`([^`]+)`$/.exec(row[0] ?? '');
      assert.ok(key, `docs/configuration.md:${j + 1}: the first cell must be one key in backticks`);
      rows.push({ key: key[1]!, line: j + 1, defaultCell: row[def] ?? '', reloadCell: row[reload] ?? '' });
    }
  }
  return rows;
}

/** `30s`, `{}`, `443`: the code spans of a cell, as a config file would write them. */
function codeSpans(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\\\|/g, '|'));
}

/** Does `span`, read as YAML and validated by the defaulted schema, give the schema's default? */
function spanGives(span: string, d: { value: unknown; schema: z.ZodType }): boolean {
  let raw: unknown = span;
  try {
    raw = parseYaml(span);
  } catch {
    // not YAML: try it as the string it is
  }
  const r = d.schema.safeParse(raw);
  return r.success && isDeepStrictEqual(r.data, d.value);
}

const keys = schemaKeys(configSchema);
const doc = fs.readFileSync(REFERENCE, 'utf8');
const rows = referenceRows(doc);
const rowByKey = new Map(rows.map((r) => [r.key, r]));

test('the schema walk finds keys at every depth', () => {
  const paths = new Set(keys.map((k) => k.path));
  for (const p of [
    'pki',
    'securityGroups.<name>.ingress[].ports',
    'portForwards.<name>.idleTimeout',
    'egressProxies.<name>.accessLog.format',
    'audit.retention.maxRows',
  ])
    assert.ok(paths.has(p), `the walk missed ${p}`);
});

test('docs/configuration.md documents every key of the schema', () => {
  const missing = keys.filter((k) => !rowByKey.has(k.path)).map((k) => k.path);
  assert.deepEqual(missing, [], `docs/configuration.md lacks a row for:\n  ${missing.join('\n  ')}`);
});

test('docs/configuration.md documents no key the schema lacks, and each key once', () => {
  const paths = new Set(keys.map((k) => k.path));
  const extra = rows.filter((r) => !paths.has(r.key)).map((r) => `${r.key} (line ${r.line})`);
  assert.deepEqual(
    extra,
    [],
    `docs/configuration.md documents keys the schema lacks:\n  ${extra.join('\n  ')}`,
  );
  const seen = new Set<string>();
  const twice = rows.filter((r) => (seen.has(r.key) ? true : (seen.add(r.key), false))).map((r) => r.key);
  assert.deepEqual(twice, [], `keys with more than one row:\n  ${twice.join('\n  ')}`);
});

test("every default the schema declares is written in its key's row", () => {
  const wrong: string[] = [];
  for (const k of keys) {
    const row = rowByKey.get(k.path);
    if (!row) continue; // reported above
    const spans = codeSpans(row.defaultCell);
    for (const d of k.defaults) {
      if (!spans.some((s) => spanGives(s, d)))
        wrong.push(
          `${k.path} (line ${row.line}): default ${JSON.stringify(d.value)}, row says "${row.defaultCell}"`,
        );
    }
  }
  assert.deepEqual(wrong, [], `defaults missing or wrong:\n  ${wrong.join('\n  ')}`);
});

test('required keys, and only those, say "required"', () => {
  const wrong: string[] = [];
  for (const k of keys) {
    const row = rowByKey.get(k.path);
    if (!row) continue;
    const says = /\brequired\b/i.test(row.defaultCell);
    if (k.required !== says)
      wrong.push(
        `${k.path} (line ${row.line}): ${k.required ? 'required, row does not say so' : 'not required'}`,
      );
  }
  assert.deepEqual(wrong, [], wrong.join('\n'));
});

test('every row says what a reload does', () => {
  const terms = /\b(live|new sessions|restart|closes sessions)\b/;
  const wrong = rows.filter((r) => !terms.test(r.reloadCell)).map((r) => `${r.key} (line ${r.line})`);
  assert.deepEqual(wrong, [], `rows whose Reload cell names none of the terms:\n  ${wrong.join('\n  ')}`);
});

/** Link targets of a markdown file: inline links and images, and reference definitions, outside code. */
function linkTargets(markdown: string): string[] {
  const text = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
  const inline = [...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
  const defs = [...text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)].map((m) => m[1]!);
  return [...inline, ...defs];
}

test('README.md and docs/*.md link to nothing outside the repository', () => {
  const files = [
    path.join(ROOT, 'README.md'),
    ...fs
      .readdirSync(path.join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => path.join(ROOT, 'docs', f)),
  ];
  const bad: string[] = [];
  for (const file of files) {
    const rel = path.relative(ROOT, file);
    const text = fs.readFileSync(file, 'utf8');
    text.split('\n').forEach((line, i) => {
      if (line.includes('../shared')) bad.push(`${rel}:${i + 1}: names ../shared`);
    });
    for (const target of linkTargets(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue; // URL or anchor
      const file_ = decodeURIComponent(target.replace(/[#?].*$/, ''));
      const resolved = path.resolve(path.dirname(file), file_);
      const inside = path.relative(ROOT, resolved);
      if (target.startsWith('/') || inside.startsWith('..') || path.isAbsolute(inside))
        bad.push(`${rel}: link ${target} leaves the repository`);
      else if (!fs.existsSync(resolved)) bad.push(`${rel}: link ${target} names a file that does not exist`);
    }
  }
  assert.deepEqual(bad, [], bad.join('\n'));
});

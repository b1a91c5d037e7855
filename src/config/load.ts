// Read, parse and validate a config file into a deep-frozen snapshot, or fail with every problem
// as FILE:LINE: message. Nothing here starts or stops anything: reload builds a new snapshot with
// this and only then swaps it in.
import fs from 'node:fs';
import path from 'node:path';
import { isAlias, isCollection, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { checkConfig } from './check.js';
import { checkWhatParses } from './partial-check.js';
import { makeSource, type ConfigSource } from './source.js';
import { GatehouseError } from '../errors.js';

export interface LoadedConfig {
  readonly config: Config;
  readonly source: ConfigSource;
  /** Directory that relative paths in the config are resolved against. */
  readonly baseDir: string;
  readonly text: string;
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function issueLines(source: ConfigSource, issues: readonly z.core.$ZodIssue[]): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const at = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const dotted = at.join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push(`${source.where(at, key)}: unknown key "${key}"${dotted ? ` in ${dotted}` : ''}`);
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = `missing required key`;
    out.push(`${source.where(at)}: ${dotted ? `${dotted}: ` : ''}${message}`);
  }
  return out;
}

/**
 * The document as plain values. The YAML library reports an alias used before its anchor, or one
 * expanding past its alias budget (a "billion laughs" file), only here, as a ReferenceError: it is
 * the file's fault, so it is a config error at the alias's line like any other.
 */
function toPlain(doc: Document, lc: LineCounter, file: string): unknown {
  // A list or mapping as a key (`? [a, b]: x`, `{a: 1}: x`) means nothing in a config; YAML would
  // turn it into the text "[object Object]" with a process warning on stderr.
  let complexKey: number | undefined;
  visit(doc, {
    Pair(_, pair) {
      if (!isCollection(pair.key)) return;
      complexKey = pair.key.range ? lc.linePos(pair.key.range[0]).line : 1;
      return visit.BREAK;
    },
  });
  if (complexKey !== undefined) {
    const details = [`${file}:${complexKey}: a key must be a plain value, not a list or mapping`];
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', [file, 1], { details });
  }
  try {
    return doc.toJS() ?? {};
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
    let line = 1;
    const name = /: (\S+)$/.exec(err.message)?.[1];
    visit(doc, {
      Alias(_, node) {
        if (!isAlias(node) || !node.range || (name !== undefined && node.source !== name)) return;
        line = lc.linePos(node.range[0]).line;
        return visit.BREAK;
      },
    });
    const details = [`${file}:${line}: YAML: ${err.message}`];
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', [file, 1], { details, cause: err });
  }
}

/** Parse and validate config text. Throws GH_ERR_CONFIG_INVALID with FILE:LINE details. */
export function parseConfig(
  text: string,
  file: string,
  baseDir = path.dirname(path.resolve(file)),
): LoadedConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const source = makeSource(file, doc, lc);
  if (doc.errors.length > 0) {
    const details = doc.errors.map((e) => {
      const line = lc.linePos(e.pos[0]).line;
      return `${file}:${line}: YAML: ${e.message.split('\n')[0]}`;
    });
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', [file, details.length], { details });
  }
  const raw = toPlain(doc, lc, file);
  if (ArrayBuffer.isView(raw)) {
    // `!!binary` at the top: zod would read its bytes as keys "0", "1", … and list each.
    const details = [`${file}:1: the top level must be a mapping of keys, not binary data (!!binary)`];
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', [file, 1], { details });
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    // The cross-checks of what does parse, in the same pass (config/partial-check.ts).
    const details = [
      ...issueLines(source, result.error.issues),
      ...checkWhatParses(raw, result.error.issues, baseDir).map(
        (p) => `${source.where(p.path, p.key)}: ${p.message}`,
      ),
    ];
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', [file, details.length], { details });
  }
  const problems = checkConfig(result.data, baseDir);
  if (problems.length > 0) {
    const details = problems.map((p) => `${source.where(p.path, p.key)}: ${p.message}`);
    throw new GatehouseError('GH_ERR_CONFIG_INVALID', [file, details.length], { details });
  }
  return deepFreeze({ config: result.data, source, baseDir, text });
}

export function loadConfig(file: string): LoadedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new GatehouseError('GH_ERR_CONFIG_READ', [file], { cause: err });
  }
  return parseConfig(text, file);
}

// When the schema refuses a config, the cross-checks (unknown `sg:` and `cluster:` references,
// two listeners on one address, files that do not exist) would otherwise wait for the next run:
// a user fixed a typo, ran `validate` again, and only then met the duplicate listener. Here the
// parts the schema refused are taken out of a copy of the document (an unknown key, a bad value, an
// item whose required key went with it), until what is left passes the schema; the cross-checks
// run on that, and their problems come back in the original document's places. Problems that the
// pruning itself could cause are dropped: inside or above a pruned place, or a reference to a
// security group or cluster that was pruned.
import type { z } from 'zod';
import { checkConfig, type Problem } from './check.js';
import { configSchema } from './schema.js';
import type { ConfigPath } from './source.js';

type Json = Record<string, unknown> | unknown[];

const MAX_ROUNDS = 20;

/** Array indices taken out in one round, by the array's path (in that round's own places). */
type Removed = Map<string, number[]>;

const keyOf = (p: ConfigPath) => JSON.stringify(p);

function at(root: unknown, path: ConfigPath): unknown {
  let node = root;
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node;
}

/** A place in this round's document, back in the previous round's (array items shift up). */
function unshift(path: ConfigPath, removed: Removed): ConfigPath {
  const out: (string | number)[] = [];
  for (const seg of path) {
    if (typeof seg === 'number') {
      let i = seg;
      for (const r of removed.get(keyOf(out)) ?? []) if (r <= i) i++;
      out.push(i);
    } else out.push(seg);
  }
  return out;
}

const related = (a: ConfigPath, b: ConfigPath) => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** The cross-check problems of what the schema accepts of `raw`, or none when too little is left. */
export function checkWhatParses(
  raw: unknown,
  firstIssues: readonly z.core.$ZodIssue[],
  baseDir: string,
): Problem[] {
  if (raw === null || typeof raw !== 'object') return [];
  const doc = structuredClone(raw) as Json;
  const rounds: Removed[] = [];
  const pruned: ConfigPath[] = [];
  const prunedNames = new Set<string>();
  let issues = firstIssues;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const removed: Removed = new Map();
    const targets: ConfigPath[] = [];
    for (const issue of issues) {
      const p = issue.path.filter((s): s is string | number => typeof s !== 'symbol');
      if (issue.code === 'unrecognized_keys') for (const k of issue.keys) targets.push([...p, k]);
      else if (at(doc, p) === undefined)
        targets.push(p.slice(0, -1)); // a missing key: its parent goes
      else targets.push(p);
    }
    if (targets.some((t) => t.length === 0)) return [];
    const splices = new Map<unknown[], Set<number>>();
    for (const t of targets) {
      const parent = at(doc, t.slice(0, -1));
      const last = t.at(-1)!;
      const original = rounds.reduceRight((p, r) => unshift(p, r), t);
      pruned.push(original);
      if (original.length === 2 && (original[0] === 'securityGroups' || original[0] === 'clusters'))
        prunedNames.add(`${original[0]}:${String(original[1])}`);
      if (Array.isArray(parent) && typeof last === 'number') {
        splices.set(parent, (splices.get(parent) ?? new Set()).add(last));
        const k = keyOf(t.slice(0, -1));
        removed.set(k, [...new Set([...(removed.get(k) ?? []), last])]);
      } else if (isPlainObject(parent)) {
        // Not any object: YAML's `!!binary` makes a Uint8Array, whose elements cannot be deleted
        // (found by the fuzz campaign: a TypeError out of the loader instead of the config error).
        delete parent[String(last)];
      }
    }
    // Highest index first, so the others keep their places until they go.
    for (const [arr, indices] of splices)
      for (const i of [...indices].sort((x, y) => y - x)) if (i < arr.length) arr.splice(i, 1);
    for (const list of removed.values()) list.sort((a, b) => a - b);
    rounds.push(removed);
    const result = configSchema.safeParse(doc);
    if (result.success) {
      return checkConfig(result.data, baseDir)
        .map((problem) => ({ ...problem, path: rounds.reduceRight((p, r) => unshift(p, r), problem.path) }))
        .filter((problem) => {
          if (problem.ref && prunedNames.has(`${problem.ref.kind}:${problem.ref.name}`)) return false;
          const where = problem.key === undefined ? problem.path : [...problem.path, problem.key];
          return !pruned.some((p) => related(p, where));
        });
    }
    issues = result.error.issues;
  }
  return [];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

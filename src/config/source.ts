// Maps a config path (["portForwards", "nat", "forwards", 0, "listen"]) back to FILE:LINE, so every
// problem and every policy decision can name the line a user wrote.
import { isMap, isPair, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml';

export type ConfigPath = readonly (string | number)[];

export interface ConfigSource {
  readonly file: string;
  /** FILE:LINE of the deepest node on path that exists (of its key, inside a map). */
  where(path: ConfigPath, key?: string): string;
}

function lineOf(lc: LineCounter, node: Node | null | undefined): number | undefined {
  const start = node?.range?.[0];
  return start === undefined ? undefined : lc.linePos(start).line;
}

export function makeSource(file: string, doc: Document, lc: LineCounter): ConfigSource {
  return {
    file,
    where(path, key) {
      let node = doc.contents as Node | null;
      let line = lineOf(lc, node) ?? 1;
      const segments = key === undefined ? path : [...path, key];
      for (const seg of segments) {
        let next: Node | null | undefined;
        let keyNode: Node | null | undefined;
        if (isMap(node)) {
          const pair = node.items.find(
            (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
          );
          keyNode = pair?.key as Node | undefined;
          next = pair?.value as Node | null | undefined;
        } else if (isSeq(node) && typeof seg === 'number') {
          next = node.items[seg] as Node | undefined;
        }
        if (next === undefined && keyNode === undefined) break;
        // In a map the key's line is the one a user looks for (the value of "forwards:" starts below it).
        line = lineOf(lc, keyNode ?? next) ?? line;
        if (!next) break;
        node = next;
      }
      return `${file}:${line}`;
    },
  };
}

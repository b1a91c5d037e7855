// Port sets as sorted, merged [lo, hi] ranges: "6379", "11211-11213", "6379,11211", "all".

export type PortRange = readonly [lo: number, hi: number];

export interface PortSet {
  readonly ranges: readonly PortRange[];
  readonly text: string;
}

export const ALL_PORTS: PortSet = Object.freeze({
  ranges: Object.freeze([[1, 65535] as const]),
  text: 'all',
});

function parsePort(s: string): number | string {
  if (!/^\d{1,5}$/.test(s)) return `"${s}" is not a port number`;
  const n = Number(s);
  if (n < 1 || n > 65535) return `port ${n} is out of range 1-65535`;
  return n;
}

/** Parse one range "N" or "A-B". Returns an error message on failure. */
export function parsePortRange(text: string): PortRange | string {
  const s = text.trim();
  const m = /^([^-]+)-([^-]+)$/.exec(s);
  if (!m) {
    const p = parsePort(s);
    return typeof p === 'string' ? p : [p, p];
  }
  const lo = parsePort(m[1]!.trim());
  const hi = parsePort(m[2]!.trim());
  if (typeof lo === 'string') return lo;
  if (typeof hi === 'string') return hi;
  if (lo > hi) return `port range "${s}" runs backwards; write "${hi}-${lo}"`;
  return [lo, hi];
}

/** Parse "all", a number, a range, or a comma-separated list of those. */
export function parsePortSet(input: string | number): PortSet | string {
  const text = String(input).trim();
  if (text === '') return 'empty port list';
  if (text.toLowerCase() === 'all') return ALL_PORTS;
  const ranges: PortRange[] = [];
  for (const part of text.split(',')) {
    const r = parsePortRange(part);
    if (typeof r === 'string') return r;
    ranges.push(r);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [lo, hi] of ranges) {
    const last = merged[merged.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else merged.push([lo, hi]);
  }
  return Object.freeze({ ranges: Object.freeze(merged.map((r) => Object.freeze(r) as PortRange)), text });
}

export function portSetHas(set: PortSet, port: number): boolean {
  // Indexed, not for-of with destructuring: this runs for every request and connection, and the
  // iterator form showed up in profiles.
  const ranges = set.ranges;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (port < r[0]) return false;
    if (port <= r[1]) return true;
  }
  return false;
}

export function rangeSize(r: PortRange): number {
  return r[1] - r[0] + 1;
}

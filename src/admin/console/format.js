// How the console writes values: byte counts, ages, times (UTC, as the audit log stores them).

export function bytes(n) {
  if (n === undefined || n === null) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1073741824) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(1)} GiB`;
}

export function age(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** "2026-01-31 12:00:05Z" from an ISO time. */
export function time(iso) {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** A bucket's start on a chart axis: the time of day, with the date when the window spans days. */
export function clock(iso, withDate) {
  const t = time(iso);
  return withDate ? t.slice(5, 16) : t.slice(11, 16);
}

/** A step or window in ms as "30s", "5m", "1h", "1d". */
export function span(ms) {
  for (const [unit, n] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ])
    if (ms % n === 0) return `${ms / n}${unit}`;
  return `${ms}ms`;
}

// Charts as plain inline SVG: one row per series (a face, a listener), each bucket a bar above the
// middle line (allowed, bytes from clients) and one below it (denied, bytes to clients), on one
// scale for the whole chart so rows compare. Bars stretch with the page (no text inside the SVG, so
// nothing is distorted); labels and the time axis are HTML. Each bar has a <title> for hover.
import { h, svg } from './dom.js';
import { clock, span } from './format.js';

const BAR = 10; // viewBox units per bucket
const HALF = 48; // the tallest bar, above or below the middle line (y = 50)
const MIN = 1.5; // a non-zero bar is at least this tall, so a small count still shows

function bars(values, dir, cls, scale, titles) {
  return values.map((v, i) => {
    if (!v) return null;
    const height = Math.max(MIN, (v / scale) * HALF);
    return svg(
      'rect',
      {
        class: `bar ${dir} ${cls}`,
        x: i * BAR + 1,
        y: dir === 'up' ? 50 - height : 50,
        width: BAR - 2,
        height,
        'data-bucket': i,
        'data-value': v,
      },
      svg('title', null, titles(i, v)),
    );
  });
}

/**
 * A figure: `rows` of { key, label, up: number[], down: number[] }, one value per bucket.
 * `up` and `down` name the two halves ({ label, class }); `format` writes a value.
 */
export function mirroredChart({ id, caption, buckets, stepMs, rows, up, down, format }) {
  const n = buckets.length;
  const scale = Math.max(1, ...rows.flatMap((r) => [...r.up, ...r.down]));
  // Times of day alone are ambiguous once the window spans a day: then the date is written too.
  const days = n * stepMs >= 86_400_000;
  const when = (i) =>
    `${clock(buckets[i], days)}–${clock(new Date(Date.parse(buckets[i]) + stepMs).toISOString(), days)}`;
  const sum = (list) => list.reduce((a, b) => a + b, 0);
  return h(
    'figure',
    {
      class: 'chart',
      'data-chart': id,
      'data-first': buckets[0],
      'data-step-ms': stepMs,
      'data-buckets': n,
    },
    h(
      'figcaption',
      null,
      caption,
      h('span', { class: 'muted' }, ` per ${span(stepMs)}, tallest bar ${format(scale)}: `),
      h('span', { class: up.class }, `▲ ${up.label}`),
      ' ',
      h('span', { class: down.class }, `▼ ${down.label}`),
    ),
    rows.map((r) => {
      const upTotal = sum(r.up);
      const downTotal = sum(r.down);
      return h(
        'div',
        {
          class: 'chart-row',
          'data-series': r.key,
          'data-up-total': upTotal,
          'data-down-total': downTotal,
        },
        h(
          'div',
          { class: 'chart-label' },
          h('strong', { class: 'mono' }, r.label),
          ' ',
          h('span', { class: up.class }, `${format(upTotal)} ${up.label}`),
          ', ',
          h('span', { class: down.class }, `${format(downTotal)} ${down.label}`),
        ),
        svg(
          'svg',
          {
            class: 'bars',
            viewBox: `0 0 ${Math.max(n, 1) * BAR} 100`,
            preserveAspectRatio: 'none',
            role: 'img',
            'aria-label': `${r.label}: ${format(upTotal)} ${up.label}, ${format(downTotal)} ${down.label}`,
          },
          svg('line', {
            class: 'axis',
            x1: 0,
            y1: 50,
            x2: Math.max(n, 1) * BAR,
            y2: 50,
            'vector-effect': 'non-scaling-stroke',
          }),
          bars(r.up, 'up', up.class, scale, (i, v) => `${when(i)}: ${format(v)} ${up.label}`),
          bars(r.down, 'down', down.class, scale, (i, v) => `${when(i)}: ${format(v)} ${down.label}`),
        ),
      );
    }),
    n > 0
      ? h(
          'div',
          { class: 'chart-axis muted' },
          h('span', null, 'UTC'),
          h(
            'div',
            { class: 'ticks' },
            h('span', null, clock(buckets[0], days)),
            h('span', null, clock(buckets[Math.floor(n / 2)], days)),
            h('span', null, 'now'),
          ),
        )
      : null,
  );
}

// Audit events over time, for the console's charts and GET /api/audit/timeline: the step a window
// is cut into, and the store's sparse rows (only buckets with events) made into one value per
// bucket for every face and listener. Pure: the counting is the store's (store.ts, timeline()).
import type { TimelineRows } from './store.js';

/** Buckets a timeline may have; a finer step over a longer window is refused. */
export const MAX_BUCKETS = 1440;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Steps a chosen step is one of: round numbers a reader takes in at a glance. */
const STEPS = [
  SECOND,
  5 * SECOND,
  10 * SECOND,
  30 * SECOND,
  MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  24 * HOUR,
];

/**
 * The smallest round step that cuts spanMs into about `buckets` buckets (60: 1h → 1m, 24h → 30m).
 * One bucket over is allowed, so a window of "the last hour" that reached the server a moment later
 * (a few ms over 1h) keeps its 1m step.
 */
export function chooseStep(spanMs: number, buckets = 60): number {
  return STEPS.find((s) => spanMs / s <= buckets + 1) ?? STEPS.at(-1)!;
}

/** The start of the bucket that holds `ms`: a multiple of the step since the epoch. */
export function bucketOf(ms: number, stepMs: number): number {
  return Math.floor(ms / stepMs) * stepMs;
}

/** The starts of every bucket that overlaps [since, until). */
export function bucketStarts(since: number, until: number, stepMs: number): number[] {
  const out: number[] = [];
  for (let t = bucketOf(since, stepMs); t < until; t += stepMs) out.push(t);
  return out;
}

export interface FaceSeries {
  readonly face: string;
  readonly allowed: number[];
  readonly denied: number[];
  readonly total: { allowed: number; denied: number };
}

export interface ListenerSeries {
  readonly listener: string;
  readonly face: string;
  readonly bytesFromClient: number[];
  readonly bytesToClient: number[];
  readonly total: { bytesFromClient: number; bytesToClient: number };
}

export interface Timeline {
  readonly since: string;
  readonly until: string;
  readonly stepMs: number;
  /** The start of each bucket (ISO); every series has one value per bucket. */
  readonly buckets: string[];
  /** Faces that decided anything in the window, by name. */
  readonly faces: FaceSeries[];
  /** Listeners whose sessions closed in the window, by name. */
  readonly listeners: ListenerSeries[];
  readonly total: { allowed: number; denied: number; bytesFromClient: number; bytesToClient: number };
}

/** The store's rows as one value per bucket, per face and per listener, with their totals. */
export function denseTimeline(since: number, until: number, stepMs: number, rows: TimelineRows): Timeline {
  const starts = bucketStarts(since, until, stepMs);
  const index = new Map(starts.map((t, i) => [t, i]));
  const slot = (t: number) => index.get(t) ?? index.get(bucketOf(t, stepMs));
  const faces = new Map<string, FaceSeries>();
  for (const r of rows.decisions) {
    const i = slot(r.t);
    if (i === undefined) continue;
    let f = faces.get(r.face);
    if (!f) {
      f = {
        face: r.face,
        allowed: starts.map(() => 0),
        denied: starts.map(() => 0),
        total: { allowed: 0, denied: 0 },
      };
      faces.set(r.face, f);
    }
    f.allowed[i]! += r.allowed;
    f.denied[i]! += r.denied;
    f.total.allowed += r.allowed;
    f.total.denied += r.denied;
  }
  const listeners = new Map<string, ListenerSeries>();
  for (const r of rows.bytes) {
    const i = slot(r.t);
    if (i === undefined) continue;
    let l = listeners.get(r.listener);
    if (!l) {
      l = {
        listener: r.listener,
        face: r.face,
        bytesFromClient: starts.map(() => 0),
        bytesToClient: starts.map(() => 0),
        total: { bytesFromClient: 0, bytesToClient: 0 },
      };
      listeners.set(r.listener, l);
    }
    l.bytesFromClient[i]! += r.bytesFromClient;
    l.bytesToClient[i]! += r.bytesToClient;
    l.total.bytesFromClient += r.bytesFromClient;
    l.total.bytesToClient += r.bytesToClient;
  }
  const byName = <T>(m: Map<string, T>) =>
    [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => v);
  const faceList = byName(faces);
  const listenerList = byName(listeners);
  const sum = <T>(list: T[], f: (x: T) => number) => list.reduce((n, x) => n + f(x), 0);
  return {
    since: new Date(since).toISOString(),
    until: new Date(until).toISOString(),
    stepMs,
    buckets: starts.map((t) => new Date(t).toISOString()),
    faces: faceList,
    listeners: listenerList,
    total: {
      allowed: sum(faceList, (f) => f.total.allowed),
      denied: sum(faceList, (f) => f.total.denied),
      bytesFromClient: sum(listenerList, (l) => l.total.bytesFromClient),
      bytesToClient: sum(listenerList, (l) => l.total.bytesToClient),
    },
  };
}

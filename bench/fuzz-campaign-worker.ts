// One fuzz campaign's worker thread (bench/fuzz-campaign.ts starts it): runs the cases of one
// target from `start` for `budgetMs`, writes the case in hand to shared
// memory before each so the watchdog in the main thread can name a hang, and reports counts,
// findings, the slowest case and the heap's high-water mark.
import { parentPort, workerData } from 'node:worker_threads';
import { describeFinding, Fuzzer } from '../test/fuzz/harness.js';
import { TARGETS } from '../test/fuzz/targets.js';

export interface CampaignWork {
  readonly target: string;
  readonly start: number;
  /** How long to run cases, from the first one (loading the modules is not counted). */
  readonly budgetMs: number;
  /** [0]: the case in hand; [1]: cases finished (the watchdog's sign of progress); [2]: 1 once cases run. */
  readonly progress: SharedArrayBuffer;
}

export type CampaignReport =
  | { kind: 'finding'; n: number; line: string; input: Uint8Array }
  | { kind: 'stats'; cases: number; heapMax: number; slowestMs: number; slowestCase: number; done: boolean };

const work = workerData as CampaignWork;
const target = TARGETS.find((t) => t.name === work.target)!;
const fuzzer = new Fuzzer(target);
const progress = new Int32Array(work.progress);
const post = (r: CampaignReport) => parentPort!.postMessage(r);

let heapMax = process.memoryUsage().heapUsed;
let slowestMs = 0;
let slowestCase = -1;
let cases = 0;
post({ kind: 'stats', cases: 0, heapMax, slowestMs, slowestCase, done: false });
Atomics.store(progress, 2, 1);
const until = performance.now() + work.budgetMs;
for (let n = work.start; ; n++) {
  Atomics.store(progress, 0, n);
  const t0 = performance.now();
  const r = fuzzer.case(n);
  const ms = performance.now() - t0;
  if (ms > slowestMs) {
    slowestMs = ms;
    slowestCase = n;
  }
  cases++;
  Atomics.add(progress, 1, 1);
  if (!r.ok)
    post({ kind: 'finding', n, line: describeFinding(target.name, n, r.input, r.error), input: r.input });
  if ((cases & 63) === 0) {
    heapMax = Math.max(heapMax, process.memoryUsage().heapUsed);
    if ((cases & 1023) === 0) post({ kind: 'stats', cases, heapMax, slowestMs, slowestCase, done: false });
    if (performance.now() >= until) break;
  }
}
post({ kind: 'stats', cases, heapMax, slowestMs, slowestCase, done: true });

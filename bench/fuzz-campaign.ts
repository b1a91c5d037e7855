// A long fuzz campaign over every parser of untrusted bytes (the targets of test/fuzz/targets.ts,
// the same harness the quick run in the tests uses), FUZZ_SECONDS per target in a worker thread.
// Reports per target: inputs tried, crashes (a throw not of the parser's error type, or a failed
// property), hangs (a case over FUZZ_HANG_MS: the watchdog here ends the worker and goes on from
// the next case), out-of-memory (the worker's heap is capped at FUZZ_HEAP_MB), the heap's
// high-water mark over the worker's starting heap, the process's RSS high-water mark and the
// slowest case. Every finding's input is written to test-artifacts/fuzz/ to become a regression
// seed (corpus/NAME/regress-*). Exits 1 when anything was found.
//   FUZZ_SECONDS=60 node --import tsx bench/fuzz-campaign.ts [TARGET…]
import { mkdirSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { Fuzzer } from '../test/fuzz/harness.js';
import { TARGETS } from '../test/fuzz/targets.js';
import type { CampaignReport, CampaignWork } from './fuzz-campaign-worker.js';

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 60);
const HANG_MS = Number(process.env.FUZZ_HANG_MS ?? 2000);
const HEAP_MB = Number(process.env.FUZZ_HEAP_MB ?? 512);
/** Where each target's cases start: a different FUZZ_START explores other cases than the test run's. */
const START = Number(process.env.FUZZ_START ?? 1_000_000);
const OUT = new URL('../test-artifacts/fuzz/', import.meta.url);

interface Result {
  target: string;
  cases: number;
  crashes: number;
  hangs: number[];
  ooms: number[];
  heapStart: number;
  heapMax: number;
  rssMax: number;
  slowestMs: number;
  slowestCase: number;
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

function save(target: string, n: number, input: Uint8Array): void {
  mkdirSync(OUT, { recursive: true });
  writeFileSync(new URL(`${target}-case-${n}.bin`, OUT), input);
}

/**
 * One worker from case `start` for `budgetMs` of cases; resolves with how long cases ran and the
 * case it stopped at when it hung or ran out of heap.
 */
function runWorker(
  result: Result,
  start: number,
  budgetMs: number,
): Promise<{ stopped: number | undefined; ranMs: number }> {
  const progress = new SharedArrayBuffer(12);
  const view = new Int32Array(progress);
  const work: CampaignWork = { target: result.target, start, budgetMs, progress };
  // Node 20 loads a worker's entry before --import hooks run in it: register tsx first, by hand.
  const entry = new URL('./fuzz-campaign-worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(entry)}); })`;
  const worker = new Worker(boot, {
    eval: true,
    execArgv: [],
    workerData: work,
    resourceLimits: { maxOldGenerationSizeMb: HEAP_MB },
  });
  let base = 0;
  let stopped: number | undefined;
  let firstCase: number | undefined;
  return new Promise((resolve) => {
    let last = -1;
    let since = performance.now();
    const watchdog = setInterval(() => {
      result.rssMax = Math.max(result.rssMax, process.memoryUsage().rss);
      const finished = Atomics.load(view, 1);
      // Loading the worker's modules is not a case: the clock starts with the first one.
      if (Atomics.load(view, 2) === 0) since = performance.now();
      else if (firstCase === undefined) firstCase = since = performance.now();
      else if (finished !== last) {
        last = finished;
        since = performance.now();
      } else if (performance.now() - since > HANG_MS) {
        stopped = Atomics.load(view, 0);
        result.hangs.push(stopped);
        console.log(`  hang: ${result.target} case ${stopped} ran over ${HANG_MS} ms`);
        void worker.terminate();
      }
    }, 100);
    worker.on('message', (m: CampaignReport) => {
      if (m.kind === 'finding') {
        result.crashes++;
        console.log(`  crash: ${m.line}`);
        save(result.target, m.n, m.input);
        return;
      }
      if (!result.heapStart) result.heapStart = m.heapMax;
      result.cases = base + m.cases;
      result.heapMax = Math.max(result.heapMax, m.heapMax);
      if (m.slowestMs > result.slowestMs) {
        result.slowestMs = m.slowestMs;
        result.slowestCase = m.slowestCase;
      }
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        stopped = Atomics.load(view, 0);
        result.ooms.push(stopped);
        console.log(`  out of memory: ${result.target} case ${stopped}`);
      } else {
        console.log(`  worker error: ${err.stack ?? String(err)}`);
      }
    });
    worker.on('exit', () => {
      clearInterval(watchdog);
      result.cases = Math.max(result.cases, base + Atomics.load(view, 1));
      resolve({ stopped, ranMs: firstCase === undefined ? 0 : performance.now() - firstCase });
    });
    base = result.cases;
  });
}

async function campaign(target: string): Promise<Result> {
  const result: Result = {
    target,
    cases: 0,
    crashes: 0,
    hangs: [],
    ooms: [],
    heapStart: 0,
    heapMax: 0,
    rssMax: 0,
    slowestMs: 0,
    slowestCase: -1,
  };
  let left = SECONDS * 1000;
  let start = START;
  for (;;) {
    const before = result.cases;
    const { stopped, ranMs } = await runWorker(result, start, left);
    left -= ranMs;
    if (stopped === undefined) break;
    // The input of the case that hung or ran out of memory, for replay; then on from the next case.
    save(target, stopped, new Fuzzer(TARGETS.find((t) => t.name === target)!).input(stopped).input);
    if (left <= 0) break;
    result.cases = before + (stopped - start) + 1;
    start = stopped + 1;
  }
  return result;
}

const wanted = process.argv.slice(2);
const chosen = wanted.length > 0 ? TARGETS.filter((t) => wanted.includes(t.name)) : TARGETS;
if (chosen.length === 0) {
  console.error(`no such target; targets: ${TARGETS.map((t) => t.name).join(' ')}`);
  process.exit(2);
}
console.log(
  `fuzz campaign: ${chosen.length} target(s), ${SECONDS} s each, hang budget ${HANG_MS} ms, heap cap ${HEAP_MB} MB`,
);
const results: Result[] = [];
for (const t of chosen) {
  const r = await campaign(t.name);
  results.push(r);
  console.log(
    `${r.target}: ${r.cases} inputs, ${r.crashes} crashes, ${r.hangs.length} hangs, ${r.ooms.length} OOM, heap high-water +${mb(r.heapMax - r.heapStart)}, RSS max ${mb(r.rssMax)}, slowest ${r.slowestMs.toFixed(1)} ms (case ${r.slowestCase})`,
  );
}
console.log(
  '\n| target | inputs | inputs/s | crashes | hangs | OOM | heap high-water over start | RSS max | slowest input |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of results)
  console.log(
    `| ${r.target} | ${r.cases} | ${Math.round(r.cases / SECONDS)} | ${r.crashes} | ${r.hangs.length} | ${r.ooms.length} | ${mb(r.heapMax - r.heapStart)} | ${mb(r.rssMax)} | ${r.slowestMs.toFixed(1)} ms |`,
  );
process.exit(results.some((r) => r.crashes + r.hangs.length + r.ooms.length > 0) ? 1 : 0);

// Runs a fuzz campaign: fast-check feeds a target's mutated inputs to its parser and fails on the first input that
// raises anything but a typed one-line error, allocates beyond the target's bound, or takes longer than `slowMs`
// (measured twice, so a pause of the machine alone does not fail it); then it shrinks that input and reports the
// seed and path that replay it. runInWorker runs the campaign in a worker thread and ends it when one input hangs.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { printable } from './mutate.js';
import { type FuzzInstance, MiB, unacceptableError } from './target.js';
import { fuzzTarget } from './targets.js';

export interface CampaignOptions {
  seed: number;
  /** Inputs to run. */
  runs: number;
  /** Stop starting new inputs after this many milliseconds (the long benchmark's budget per target). */
  timeLimitMs?: number;
  /** An input slower than this, twice, fails the campaign (default 1000 ms). */
  slowMs?: number;
  /** fast-check's path of a failing input, to replay just that input. */
  path?: string;
}

export interface CampaignResult {
  target: string;
  seed: number;
  /** Inputs run (fast-check's count, shrinking not included). */
  runs: number;
  parsed: number;
  /** Inputs refused with a typed error. */
  refused: number;
  /** 0, or 1: a campaign stops at its first crash, shrinks it and reports it in `failure`. */
  crashes: number;
  failure?: string;
  /** Refusals by error class. */
  errorClasses: Record<string, number>;
  slowestMs: number;
  slowestInput?: string;
  /** Most memory (JavaScript heap plus array buffers) one input's parse added. */
  largestAllocation: number;
  largestAllocationInput?: string;
  elapsedMs: number;
  /** Largest resident set size seen while the campaign ran (runInWorker samples it every 20 ms). */
  peakRss?: number;
}

/** Bytes of the current input and the count of inputs started, for a watchdog in another thread. */
export interface Progress {
  counters: Int32Array;
  input: Uint8Array;
}

const INPUT_CAPACITY = 1 << 20;

function allocated(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function describeInput(bytes: Uint8Array, seed?: string): string {
  return `${seed ? `${seed}, ` : ''}${bytes.length} bytes: ${printable(bytes, 160)}`;
}

/** Why an input failed; its stack is the parser's (in the message), not the harness's. */
class InputFailure extends Error {
  constructor(message: string) {
    super(message);
    this.stack = `Error: ${message}`; // fast-check prints it as "Got error: ..."
  }
}

export function runCampaign<I>(targetName: string, instance: FuzzInstance<I>, options: CampaignOptions, progress?: Progress): CampaignResult {
  const slowMs = options.slowMs ?? 1000;
  const result: CampaignResult = {
    target: targetName, seed: options.seed, runs: 0, parsed: 0, refused: 0, crashes: 0, errorClasses: {}, slowestMs: 0, largestAllocation: 0, elapsedMs: 0,
  };
  let failed = false;
  const runOnce = (input: I): { error?: unknown; threw: boolean; ms: number; grew: number } => {
    const before = allocated();
    const t0 = performance.now();
    try {
      instance.run(input);
      return { threw: false, ms: performance.now() - t0, grew: allocated() - before };
    } catch (error) {
      return { error, threw: true, ms: performance.now() - t0, grew: allocated() - before };
    }
  };
  const check = (input: I): void => {
    const bytes = instance.bytesOf(input);
    if (progress) {
      const n = Math.min(bytes.length, progress.input.length);
      progress.input.set(bytes.subarray(0, n));
      Atomics.store(progress.counters, 1, n);
      Atomics.add(progress.counters, 0, 1);
    }
    let outcome = runOnce(input);
    if (outcome.threw) {
      const why = unacceptableError(outcome.error, instance.expected, instance.messagePrefix);
      if (why) {
        // The parser's frames, without the harness's and fast-check's.
        const stack = outcome.error instanceof Error ? (outcome.error.stack ?? '').split('\n').slice(1).filter((l) => !/test\/fuzz\/harness|fast-check/.test(l)).slice(0, 8).join('\n') : '';
        throw new InputFailure(`${why}\n${stack}`);
      }
    }
    instance.check?.(input, outcome.threw ? outcome.error : undefined);
    const bound = instance.allocationBound(input);
    if (outcome.grew > bound) {
      throw new InputFailure(`parsing ${bytes.length} bytes allocated ${(outcome.grew / MiB).toFixed(1)} MiB, over the bound of ${(bound / MiB).toFixed(1)} MiB`);
    }
    if (outcome.ms > slowMs) {
      outcome = runOnce(input);
      if (outcome.ms > slowMs) throw new InputFailure(`parsing ${bytes.length} bytes took ${outcome.ms.toFixed(0)} ms, over the limit of ${slowMs} ms`);
    }
    if (failed) return;
    result.runs++;
    if (outcome.threw) {
      result.refused++;
      const name = (outcome.error as Error).name;
      result.errorClasses[name] = (result.errorClasses[name] ?? 0) + 1;
    } else result.parsed++;
    if (outcome.ms > result.slowestMs) {
      result.slowestMs = outcome.ms;
      result.slowestInput = describeInput(bytes, (input as { seed?: string }).seed);
    }
    if (outcome.grew > result.largestAllocation) {
      result.largestAllocation = outcome.grew;
      result.largestAllocationInput = describeInput(bytes, (input as { seed?: string }).seed);
    }
  };
  const property = fc.property(instance.inputs, (input) => {
    try {
      check(input);
    } catch (e) {
      failed = true; // fast-check now shrinks the input: its reruns are not counted
      throw e;
    }
  });
  const started = performance.now();
  const details = fc.check(property, {
    seed: options.seed,
    numRuns: options.runs,
    includeErrorInReport: true,
    ...(options.path ? { path: options.path } : {}),
    ...(options.timeLimitMs ? { interruptAfterTimeLimit: options.timeLimitMs } : {}),
  });
  result.elapsedMs = performance.now() - started;
  if (details.failed) {
    result.crashes = 1;
    result.failure = fc.defaultReportMessage(details) ?? `failed (seed ${details.seed}, path ${details.counterexamplePath})`;
    result.failure += `\nreplay: FUZZ_TARGET=${targetName} FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath} node --test build/test/fuzz/${targetName.replace(/-payload$/, '')}.test.js`;
  }
  return result;
}

/** Opens the target, checks its seeds parse, runs the campaign, and removes the target's temporary files. */
export function runTarget(targetName: string, options: CampaignOptions, progress?: Progress): CampaignResult {
  const instance = fuzzTarget(targetName).open();
  try {
    for (const seed of instance.seeds) instance.run(seed);
    return runCampaign(targetName, instance, options, progress);
  } finally {
    instance.close?.();
  }
}

export interface WorkerOptions {
  /** An input still running after this long is a hang: the worker is ended and the input saved (default 20 s). */
  hangMs?: number;
}

/** Runs a campaign in a worker thread, with a watchdog for hangs and the peak RSS sampled every 20 ms. */
export function runInWorker(targetName: string, options: CampaignOptions, workerOptions: WorkerOptions = {}): Promise<CampaignResult> {
  const hangMs = workerOptions.hangMs ?? 20_000;
  const shared = new SharedArrayBuffer(8 + INPUT_CAPACITY);
  const counters = new Int32Array(shared, 0, 2);
  const input = new Uint8Array(shared, 8);
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { targetName, options, shared } });
  return new Promise((resolvePromise, reject) => {
    let peakRss = process.memoryUsage.rss();
    let lastCount = -1;
    let lastChange = Date.now();
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      fn();
    };
    const timer = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      const count = Atomics.load(counters, 0);
      if (count !== lastCount) {
        lastCount = count;
        lastChange = Date.now();
        return;
      }
      if (count > 0 && Date.now() - lastChange > hangMs) {
        const bytes = input.slice(0, Atomics.load(counters, 1));
        const saved = join(tmpdir(), `nnzip-fuzz-hang-${targetName}-${options.seed}-${count}.bin`);
        writeFileSync(saved, bytes);
        void worker.terminate();
        finish(() => resolvePromise({
          target: targetName, seed: options.seed, runs: count - 1, parsed: 0, refused: 0, crashes: 1, errorClasses: {}, slowestMs: hangMs,
          largestAllocation: 0, elapsedMs: 0, peakRss,
          failure: `input ${count} (seed ${options.seed}) ran over ${hangMs / 1000} s: a hang; its bytes are in ${saved} (${describeInput(bytes)})`,
        }));
      }
    }, 20);
    worker.on('message', (m: { result?: CampaignResult; error?: string }) => {
      if (m.error) finish(() => reject(new Error(`fuzz worker for '${targetName}' failed: ${m.error}`)));
      else finish(() => resolvePromise({ ...m.result!, peakRss: Math.max(peakRss, process.memoryUsage.rss()) }));
    });
    worker.on('error', (e) => finish(() => reject(e)));
    worker.on('exit', (code) => finish(() => reject(new Error(`fuzz worker for '${targetName}' exited with code ${code} before reporting`))));
  });
}

/**
 * Runs a campaign in a child process of its own (in a worker there, as runInWorker does), so that its peak RSS is the
 * target's alone: the child's maximum resident set size as the kernel counts it.
 */
export function runInChild(targetName: string, options: CampaignOptions, workerOptions: WorkerOptions = {}): Promise<CampaignResult> {
  const child = fork(new URL('./worker.js', import.meta.url), ['--fuzz-child'], { serialization: 'advanced' });
  return new Promise((resolvePromise, reject) => {
    let done = false;
    child.on('message', (m: { result?: CampaignResult; error?: string }) => {
      done = true;
      child.disconnect();
      if (m.error) reject(new Error(`fuzz child for '${targetName}' failed: ${m.error}`));
      else resolvePromise(m.result!);
    });
    child.on('error', reject);
    child.on('exit', (code) => { if (!done) reject(new Error(`fuzz child for '${targetName}' exited with code ${code} before reporting`)); });
    child.send({ targetName, options, workerOptions });
  });
}

/**
 * Campaign options for the tests: FUZZ_SEED, FUZZ_RUNS and FUZZ_PATH replace the defaults (to replay a failure;
 * FUZZ_TARGET then names the one target to run).
 */
export function testOptions(defaults: { seed: number; runs: number }): CampaignOptions {
  const env = process.env;
  return {
    seed: env.FUZZ_SEED ? Number(env.FUZZ_SEED) : defaults.seed,
    runs: env.FUZZ_RUNS ? Number(env.FUZZ_RUNS) : defaults.runs,
    ...(env.FUZZ_PATH ? { path: env.FUZZ_PATH } : {}),
  };
}

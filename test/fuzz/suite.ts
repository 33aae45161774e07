// What every fuzz test file runs: its target's seeds, then FUZZ_RUNS mutated inputs in a worker thread (a hang ends
// the worker and names the input), plus helpers for the hand-made hostile inputs each file adds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runInWorker, testOptions } from './harness.js';
import { type ErrorClass, MiB, unacceptableError } from './target.js';

/** Inputs per target in `npm test`; the long benchmark (bench/fuzz.bench.ts) runs many more. */
export const FUZZ_RUNS = 10_000;
/** fast-check's seed: fixed, so a failure replays (FUZZ_SEED and FUZZ_PATH from the report replay it alone). */
export const FUZZ_SEED = 0x6e6e7a;

export function fuzzTest(targetName: string): void {
  const only = process.env.FUZZ_TARGET;
  const skip = only !== undefined && only !== targetName ? `FUZZ_TARGET is ${only}` : false;
  test(`${targetName}: ${FUZZ_RUNS} mutated inputs parse or raise a typed one-line error, each within 1 s and its allocation bound`, { skip }, async () => {
    const options = testOptions({ seed: FUZZ_SEED, runs: FUZZ_RUNS });
    const result = await runInWorker(targetName, options);
    if (result.crashes) assert.fail(`fuzz target '${targetName}' (seed ${result.seed}): ${result.failure}`);
    if (!options.path) assert.equal(result.runs, options.runs, 'every input ran');
    // Both outcomes occur: the mutations reach past the first checks, and still break the format.
    assert.ok(result.parsed > 0 && result.refused > 0, `parsed ${result.parsed}, refused ${result.refused}`);
  });
}

/**
 * Asserts that `fn` refuses its input with one of `expected`, in a one-line message matching `pattern`, within
 * `maxMs` and without allocating more than `maxBytes` (JavaScript heap plus array buffers, measured around the call).
 */
export function assertRefusedFast(fn: () => unknown, expected: ErrorClass | readonly ErrorClass[], pattern: RegExp, options: { maxMs?: number; maxBytes?: number } = {}): void {
  const maxMs = options.maxMs ?? 250;
  const maxBytes = options.maxBytes ?? 64 * MiB;
  const allocated = () => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
  const before = allocated();
  const t0 = performance.now();
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  const ms = performance.now() - t0;
  const grew = allocated() - before;
  assert.ok(error !== undefined, `expected a refusal matching ${pattern}, but the input was accepted`);
  const why = unacceptableError(error, Array.isArray(expected) ? expected : [expected as ErrorClass]);
  assert.equal(why, undefined, why);
  assert.match((error as Error).message, pattern);
  assert.ok(ms < maxMs, `refused after ${ms.toFixed(0)} ms, over ${maxMs} ms: ${(error as Error).message}`);
  assert.ok(grew < maxBytes, `allocated ${(grew / MiB).toFixed(1)} MiB before refusing, over ${(maxBytes / MiB).toFixed(0)} MiB: ${(error as Error).message}`);
}

// The long fuzz run: every fuzz target of the test suite (test/fuzz/targets.ts) with 200,000 mutated inputs instead of
// 10,000 (or 150 s, whichever comes first), each in a child process of its own and there in a worker thread with a
// watchdog for hangs. Per target: inputs run, inputs that parsed, typed refusals, crashes (must be 0), the slowest
// input, the largest allocation one input made, and the child's peak RSS. A crash comes with fast-check's seed and path.
import { type CampaignResult, runInChild } from '../test/fuzz/harness.js';
import { MiB } from '../test/fuzz/target.js';
import { FUZZ_TARGETS } from '../test/fuzz/targets.js';
import { type BenchResult, type BenchRow, type Benchmark, below } from './types.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200_000);
const BUDGET_S = 150;
/** Not the test suite's seed: the long run explores inputs the tests do not. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_251_123);

const benchmark: Benchmark = {
  name: 'fuzz',
  description: `${RUNS.toLocaleString('en-US')} mutated inputs per parser (at most ${BUDGET_S} s each): ONNX, external data, .nnz containers and payloads, recipes, NPY, IDX, images, CSV; crashes must be 0.`,
  async run(): Promise<BenchResult> {
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    const results: CampaignResult[] = [];
    for (const target of FUZZ_TARGETS) {
      const r = await runInChild(target.name, { seed: SEED, runs: RUNS, timeLimitMs: BUDGET_S * 1000 });
      results.push(r);
      console.log(`  ${target.name}: ${r.runs} inputs, ${r.parsed} parsed, ${r.refused} refused, ${r.crashes} crashes, ${(r.elapsedMs / 1000).toFixed(1)} s`);
      rows.push(
        { metric: `${target.name}: inputs run`, value: r.runs, unit: '' },
        { metric: `${target.name}: parsed`, value: r.parsed, unit: '' },
        { metric: `${target.name}: typed errors`, value: r.refused, unit: '' },
        { metric: `${target.name}: crashes`, value: r.crashes, unit: '', target: { goal: '= 0', pass: r.crashes === 0 } },
        { metric: `${target.name}: slowest input`, value: r.slowestMs, unit: 'ms', target: below(r.slowestMs, 1000, 'ms') },
        { metric: `${target.name}: largest allocation by one input`, value: r.largestAllocation / MiB, unit: 'MiB', target: below(r.largestAllocation / MiB, 64, 'MiB') },
        { metric: `${target.name}: peak RSS`, value: (r.peakRss ?? 0) / MiB, unit: 'MiB' },
      );
      notes.push(`${target.name} (${target.parsers}): ${(r.elapsedMs / 1000).toFixed(1)} s, ${Math.round(r.runs / Math.max(0.001, r.elapsedMs / 1000))} inputs/s; `
        + `refusals by class ${JSON.stringify(r.errorClasses)}${r.slowestInput ? `; slowest input: ${r.slowestInput.slice(0, 120)}` : ''}.`);
      if (r.failure) notes.push(`${target.name} FAILED: ${r.failure.split('\n').slice(0, 12).join(' | ')}`);
    }
    const total = results.reduce((n, r) => n + r.runs, 0);
    const crashes = results.reduce((n, r) => n + r.crashes, 0);
    rows.push(
      { metric: 'all parsers: inputs run', value: total, unit: '' },
      { metric: 'all parsers: crashes', value: crashes, unit: '', target: { goal: '= 0', pass: crashes === 0 } },
    );
    notes.push(
      `fast-check seed ${SEED} (FUZZ_SEED replaces it, FUZZ_RUNS the input count). A campaign stops at its first crash, shrinks it and `
        + 'reports its seed and path; a crash is any error but the target\'s typed one-line NnzipError subclass, an input over 1 s (timed twice), '
        + 'or one whose parse adds more than max(64 MiB, c x its size) to the JavaScript heap plus array buffers (c per format, see docs/reliability.md).',
      'Largest allocation: the most one input added to heap plus array buffers, measured around the call (garbage included, so an upper '
        + 'estimate between collections). Peak RSS: the maximum resident set of the child process that ran the target (its harness, '
        + 'fast-check and the worker thread included), as the kernel counts it.',
    );
    return { title: 'fuzzing: mutated inputs per parser, crashes, time and memory', rows, notes };
  },
};

export default benchmark;

// The search loop on a synthetic cost model (no onnxruntime): a fake runner turns each candidate's recipe back into
// per-layer sparsities and bits and "measures" cost and accuracy from a known formula. The search must pick a final
// within the budget, measure every candidate it reports, and replay a resumed run from its log without running anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Predictor, SearchSettings, searchCompression } from '../../../src/compress/auto/search.js';
import { predictedLayerBytes } from '../../../src/compress/auto/predict.js';
import { Trial, TrialResult, TrialRunner } from '../../../src/compress/auto/types.js';

const WEIGHTS = ['a.w', 'b.w', 'c.w'];
const PARAMS = [200_000, 30_000, 1_000];
/** Accuracy lost per layer: quadratic in sparsity beyond 0.5 and growing as bits fall below 5; layer c is fragile. */
const FRAGILITY = [1, 3, 20];
const SPARSITIES = [0, 0.5, 0.8, 0.9, 0.95];
const BITS = [8, 5, 3];
const BASE = 0.99;

function lossOf(i: number, sparsity: number, bits: number, finetuned: boolean): number {
  const raw = FRAGILITY[i]! * (0.01 * Math.max(0, sparsity - 0.5) ** 2 + 0.002 * Math.max(0, 5 - bits));
  return finetuned ? raw / 4 : raw; // fine-tuning recovers three quarters
}

function predictor(): Predictor {
  const settings = WEIGHTS.map(() => SPARSITIES.flatMap((sparsity) => BITS.map((bits) => ({ sparsity, bits }))));
  return {
    kind: 'size',
    size: {
      weights: WEIGHTS, settings, baseline: BASE,
      layers: WEIGHTS.map((w, i) => ({
        layer: w,
        choices: settings[i]!.map(({ sparsity, bits }) => ({ value: sparsity, cost: predictedLayerBytes(PARAMS[i]!, sparsity, bits), drop: 100 * lossOf(i, sparsity, bits, false) })),
      })),
    },
  };
}

/** Reads the recipe the search wrote back into per-layer settings and applies the formula. */
class FakeRunner implements TrialRunner {
  readonly parallelism = 2;
  runs: Trial[] = [];
  constructor(private readonly phase: 'trial' | 'final') {}
  async run(trial: Trial): Promise<TrialResult> {
    this.runs.push(trial);
    const prune = trial.recipe.stages.find((s) => s.stage === 'prune') as { layers: Record<string, number>; finetuneEpochs: number };
    const cluster = trial.recipe.stages.find((s) => s.stage === 'cluster') as { layers: Record<string, number> };
    let bytes = 1000, loss = 0;
    WEIGHTS.forEach((w, i) => {
      const s = prune.layers[w] ?? 0, b = cluster.layers[w]!;
      bytes += predictedLayerBytes(PARAMS[i]!, s, b);
      loss += lossOf(i, s, b, this.phase === 'final');
    });
    return { id: trial.id, origin: trial.origin, recipe: trial.recipe, accuracy: BASE - loss, bytes: Math.round(bytes), macs: 0, seconds: 0 };
  }
  async close(): Promise<void> {}
}

const SETTINGS: SearchSettings = { objective: 'size', maxDrop: 0.3, trials: 20, seed: 3, trialEpochs: 1, finalEpochs: 4, finalRounds: 4, lr: 0.01, teacher: true };

test('search on a synthetic cost model: every candidate measured, the final within budget and the cheapest such run', async () => {
  const runner = new FakeRunner('trial'), finals = new FakeRunner('final');
  const logged: { kind: string; result: TrialResult }[] = [];
  const r = await searchCompression(predictor(), runner, finals, SETTINGS, { known: new Map(), record: (kind, result) => logged.push({ kind, result }) }, { testBaseline: BASE });
  assert.equal(runner.runs.length, 20);
  assert.equal(new Set(runner.runs.map((t) => t.id)).size, 20, 'no candidate measured twice');
  assert.ok(r.candidates.every((c) => c.result), 'every reported candidate was measured');
  assert.ok(r.chosen, 'a final within the budget');
  assert.ok(100 * (BASE - r.chosen.accuracy) <= SETTINGS.maxDrop + 1e-9);
  // The final recipe is the long one: iterative rounds, more epochs, the teacher.
  const prune = r.chosen.recipe.stages.find((s) => s.stage === 'prune')!;
  assert.deepEqual([prune.schedule, prune.finetuneEpochs, prune.teacher], ['iterative:4', 4, 'original']);
  // The front is non-dominated and the chosen final is smaller than the untouched model by far.
  for (let i = 1; i < r.front.length; i++) assert.ok(r.front[i]!.bytes > r.front[i - 1]!.bytes && r.front[i]!.accuracy > r.front[i - 1]!.accuracy);
  assert.ok(r.chosen.bytes < PARAMS.reduce((a, b) => a + b, 0) * 4 / 20, `${r.chosen.bytes} bytes`);
  assert.equal(logged.filter((l) => l.kind === 'trial').length, 20);

  // Resume: the log's results replay the same search without running a single trial or final.
  const known = new Map(logged.map((l) => [l.kind === 'final' ? `final:${l.result.id}` : l.result.id, l.result]));
  const again = new FakeRunner('trial'), againFinals = new FakeRunner('final');
  const resumed = await searchCompression(predictor(), again, againFinals, SETTINGS, { known, record: () => assert.fail('nothing new to record') }, { testBaseline: BASE });
  assert.equal(again.runs.length + againFinals.runs.length, 0);
  assert.equal(resumed.chosen!.id, r.chosen.id);
});

test('a runner that rejects fails that trial only', async () => {
  const runner = new FakeRunner('trial');
  let calls = 0;
  const flaky: TrialRunner = { parallelism: 1, run: (t) => (++calls === 2 ? Promise.reject(new Error('worker crashed')) : runner.run(t)), close: async () => {} };
  const r = await searchCompression(predictor(), flaky, new FakeRunner('final'), { ...SETTINGS, trials: 6 }, { known: new Map(), record: () => {} }, { testBaseline: BASE });
  const failed = r.candidates.filter((c) => c.result?.error);
  assert.equal(failed.length, 1);
  assert.match(failed[0]!.result!.error!, /worker crashed/);
  assert.ok(r.chosen);
});

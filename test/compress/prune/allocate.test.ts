import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PruneError, pruneUnstructured } from '../../../src/compress/prune/index.js';
import { allocateSparsities, sensitivityOverrides } from '../../../src/compress/prune/allocate.js';
import { SensitivityReport } from '../../../src/compress/prune/sensitivity.js';
import { FidelityReference, generatedFeeds } from '../../../src/eval/fidelity.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { nodeRuntime } from '../../../src/runtime/node.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

/** A sensitive layer (100 weights) and a robust one (300 weights), measured at 50% and 90%, baseline 1. */
function twoLayers(sparsities = [0.5, 0.9], sensitive = [0.8, 0.2], robust = [0.99, 0.95]): SensitivityReport {
  return {
    metric: 'accuracy', sparsities, baseline: 1,
    layers: [
      { weight: 'a.weight', node: 'a', params: 100, metrics: sensitive },
      { weight: 'b.weight', node: 'b', params: 300, metrics: robust },
    ],
  };
}

test('the robust layer takes the high sparsity; both stay under one common drop (worked by hand)', () => {
  // For t in [0.01, 0.05]: a = 0.5 t / 0.2 = 2.5 t, b = 0.5 + 0.4 (t - 0.01) / 0.04 = 0.4 + 10 t.
  // 100 (2.5 t) + 300 (0.4 + 10 t) = 0.6 * 400  =>  t = 120 / 3250.
  const r = allocateSparsities(twoLayers(), 0.6);
  const t = 120 / 3250;
  close(r.threshold, t, 1e-9);
  close(r.layers[0]!.sparsity, 2.5 * t, 1e-9);
  close(r.layers[1]!.sparsity, 0.4 + 10 * t, 1e-9);
  close(r.sparsity, 0.6, 1e-12);
  close(r.layers[0]!.predictedDrop, t, 1e-9);
  close(r.layers[1]!.predictedDrop, t, 1e-9);
  assert.deepEqual(r.overrides.map((o) => o.pattern), ['a.weight', 'b.weight']);
  assert.deepEqual(r.overrides.map((o) => o.sparsity), r.layers.map((l) => l.sparsity));

  // 75%: b reaches its cap 0.9 (drop 0.05); a must give 300 - 270 = 30 weights: 0.3, drop 0.3 * 0.2 / 0.5 = 0.12.
  const high = allocateSparsities(twoLayers(), 0.75);
  close(high.layers[1]!.sparsity, 0.9);
  close(high.layers[0]!.sparsity, 0.3, 1e-9);
  close(high.threshold, 0.12, 1e-9);
  close(high.layers[1]!.predictedDrop, 0.05, 1e-12);

  // The order of the measured sparsities does not matter.
  const shuffled = allocateSparsities(twoLayers([0.9, 0.5], [0.2, 0.8], [0.95, 0.99]), 0.6);
  for (const [i, l] of shuffled.layers.entries()) close(l.sparsity, r.layers[i]!.sparsity, 1e-12);
});

test('maxSparsity caps every layer; the rest comes from the others (worked by hand)', () => {
  // b capped at 0.8 gives 240 of the 300 weights needed for 75%; a gives 60: 0.6, metric 0.8 - 0.6 * 0.1 / 0.4 = 0.65.
  const r = allocateSparsities(twoLayers(), 0.75, { maxSparsity: 0.8 });
  close(r.layers[1]!.sparsity, 0.8);
  close(r.layers[0]!.sparsity, 0.6, 1e-9);
  close(r.layers[0]!.predictedMetric, 0.65, 1e-9);
  close(r.threshold, 0.35, 1e-9);
  close(r.layers[1]!.predictedDrop, 0.04, 1e-12);
});

test('a layer that loses nothing is pruned first, at threshold 0, and a metric that rises with sparsity counts as flat', () => {
  // b keeps the baseline up to 50% (1.02 is noise: held at 1), so at t = 0 it alone can go to 0.5 (or 0.9);
  // the 120 weights needed for 30% come from b: 120 / 300.
  for (const robust of [[1, 1], [1.02, 0.95]]) {
    const r = allocateSparsities(twoLayers([0.5, 0.9], [0.8, 0.2], robust), 0.3);
    assert.equal(r.threshold, 0);
    assert.equal(r.layers[0]!.sparsity, 0);
    close(r.layers[1]!.sparsity, 0.4, 1e-12);
    close(r.sparsity, 0.3, 1e-12);
    assert.equal(r.layers[1]!.predictedDrop, 0);
  }
  // Beyond the flat stretch (held at 1 up to 0.5, then down to 0.95 at 0.9): b = 0.5 + 8 t, a = 2.5 t;
  // 100 (2.5 t) + 300 (0.5 + 8 t) = 200  =>  t = 50 / 2650.
  const past = allocateSparsities(twoLayers([0.5, 0.9], [0.8, 0.2], [1.02, 0.95]), 0.5);
  close(past.threshold, 50 / 2650, 1e-9);
  close(past.layers[1]!.sparsity, 0.5 + 8 * 50 / 2650, 1e-9);
  const none = allocateSparsities(twoLayers(), 0);
  assert.deepEqual(none.layers.map((l) => l.sparsity), [0, 0]);
});

test('raising the target never lowers the threshold or any layer sparsity, and the target is met to 1e-6', () => {
  const report: SensitivityReport = {
    sparsities: [0.3, 0.6, 0.8, 0.95], baseline: 0.98,
    layers: [
      { weight: 'w1', node: 'n1', params: 500, metrics: [0.98, 0.97, 0.9, 0.5] },
      { weight: 'w2', node: 'n2', params: 4000, metrics: [0.981, 0.98, 0.975, 0.96] },
      { weight: 'w3', node: 'n3', params: 50, metrics: [0.9, 0.7, 0.4, 0.1] },
      { weight: 'w4', node: 'n4', params: 1200, metrics: [0.97, 0.97, 0.97, 0.93] },
    ],
  };
  let previous: ReturnType<typeof allocateSparsities> | undefined;
  for (let target = 0; target <= 0.93; target += 0.01) {
    const r = allocateSparsities(report, target);
    close(r.sparsity, target, 1e-6);
    const total = r.layers.reduce((a, l) => a + l.params * l.sparsity, 0) / r.layers.reduce((a, l) => a + l.params, 0);
    close(total, target, 1e-6);
    for (const l of r.layers) assert.ok(l.predictedDrop <= r.threshold + 1e-9 && l.sparsity <= 0.95 + 1e-12, `${l.weight} at ${target}`);
    if (previous) {
      assert.ok(r.threshold >= previous.threshold - 1e-12, `threshold fell at ${target}`);
      for (const [i, l] of r.layers.entries()) assert.ok(l.sparsity >= previous.layers[i]!.sparsity - 1e-9, `${l.weight} fell at ${target}`);
    }
    previous = r;
  }
  // The least sensitive, largest layer carries most of the pruning.
  const mid = allocateSparsities(report, 0.7);
  assert.ok(mid.layers[1]!.sparsity > mid.layers[0]!.sparsity && mid.layers[0]!.sparsity > mid.layers[2]!.sparsity);
});

test('a target beyond the caps is refused, saying what the caps allow', () => {
  assert.throws(() => allocateSparsities(twoLayers(), 0.95), (e: Error) => e instanceof PruneError
    && /target sparsity 0.95 is out of reach/.test(e.message) && /at most 0.9000/.test(e.message) && /--sparsities/.test(e.message));
  assert.throws(() => allocateSparsities(twoLayers(), 0.85, { maxSparsity: 0.8 }), /out of reach.*0\.8.*at most 0\.8000/);
  assert.throws(() => allocateSparsities(twoLayers(), 1), /target sparsity 1 is outside \[0, 1\)/);
  assert.throws(() => allocateSparsities({ ...twoLayers(), layers: [{ weight: 'x', node: 'x', params: 1, metrics: [1] }] }, 0.5), /1 metrics for 2 sparsities/);
});

test('sensitivityOverrides measures, allocates, and its overrides prune each layer to its share', async () => {
  const model = buildArch('mlp:20-16-8-4', { inputShape: [20], classes: 4, seed: 2 });
  const reference = await FidelityReference.create(nodeRuntime, model, generatedFeeds(model, 64, { seed: 1 }), { threads: 1 });
  const result = await sensitivityOverrides(model, 0.6, [0.5, 0.75, 0.9], async (m) => (await reference.compare(m)).meanCosine, { metric: 'cosine' });
  assert.equal(result.report.metric, 'cosine');
  assert.deepEqual(result.overrides.map((o) => o.pattern), ['fc1.weight', 'fc2.weight', 'fc3.weight']);
  close(result.sparsity, 0.6, 1e-9);
  const pruned = pruneUnstructured(model, { sparsity: 0, overrides: result.overrides });
  for (const [i, l] of pruned.report.layers.entries()) {
    assert.equal(l.pruned, Math.round(result.layers[i]!.sparsity * l.params), l.name);
  }
  // 480 prunable weights; rounding per layer moves the total by at most half a weight per layer.
  assert.ok(Math.abs(pruned.report.total.pruned - 0.6 * 480) <= 1.5, `${pruned.report.total.pruned}`);
});

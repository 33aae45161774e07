import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { SubsetDataset } from '../../../src/data/dataset.js';
import { DataLoader } from '../../../src/data/loader.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { openDataset } from '../../../src/node/datasets.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { PruneError, accumulateGradients, maskBits, modelSparsity, pruneUnstructured } from '../../../src/compress/prune/index.js';
import {
  DynamicSparsity, SparseTrainingOptions, SparseUpdateContext, SparseUpdateRecord, cosineDropFraction, trainSparse,
} from '../../../src/compress/prune/sparse-training.js';

const mnist = openDataset('mnist', 'train');
const loader = () => new DataLoader(mnist, { batchSize: 64, limit: 512, shuffle: true, seed: 1 });
const optimizer = { kind: 'sgd' as const, momentum: 0.9, weightDecay: 5e-4 };
const fineTune = (epochs: number) => ({ runtime: nodeRuntime, loader: loader(), epochs, lr: 0.1, optimizer, threads: 1 });
const lenet = () => buildArch('lenet-300-100', { seed: 2 });
const LAYERS = { 'fc1.weight': 235200, 'fc2.weight': 30000, 'fc3.weight': 1000 } as const;

const ones = (mask: Tensor) => maskBits(mask).reduce((a, b) => a + b, 0);

function assertMaskedZero(model: Model, masks: Map<string, Tensor>) {
  for (const [name, mask] of masks) {
    const bits = maskBits(mask);
    const w = model.graph.initializers.get(name)!.toFloat32();
    for (let i = 0; i < w.length; i++) if (!bits[i]) assert.ok(w[i] === 0, `${name}[${i}] = ${w[i]} is masked but not zero`);
  }
}

/** Each layer's final mask keeps exactly round((1 - s) · params) weights and the report says so. */
function assertExactSparsity(r: Awaited<ReturnType<typeof trainSparse>>, targets: Record<string, number>) {
  for (const [name, s] of Object.entries(targets)) {
    const params = LAYERS[name as keyof typeof LAYERS];
    const layer = r.report.layers.find((l) => l.name === name)!;
    const active = params - Math.round(s * params);
    assert.equal(layer.target, s);
    assert.equal(ones(r.masks.get(name)!), active, `${name} active weights`);
    assert.equal(layer.active, active);
    assert.equal(layer.sparsity, 1 - active / params);
    // Regrown weights whose inputs are always 0 (MNIST's border pixels) get no gradient and may stay 0.
    assert.ok(layer.nonzeros <= active && layer.nonzeros > active * 0.95, `${name}: ${layer.nonzeros} non-zeros of ${active} active`);
  }
}

const lossDecreased = (r: Awaited<ReturnType<typeof trainSparse>>) => {
  const h = r.fit.history;
  assert.ok(h[h.length - 1]!.trainLoss < h[0]!.trainLoss * 0.85, `train loss ${h.map((e) => e.trainLoss.toFixed(3)).join(' -> ')}`);
};

/** Runs dynamic sparse training, keeping every update's record and context. */
async function trainDynamic(dynamic: DynamicSparsity, options: Omit<SparseTrainingOptions, 'dynamic'>, epochs: number) {
  const seen: { record: SparseUpdateRecord; context: SparseUpdateContext }[] = [];
  const r = await trainSparse(lenet(), { ...options, dynamic: { ...dynamic, onUpdate: (record, context) => { seen.push({ record, context }); } } }, fineTune(epochs));
  return { r, seen };
}

/** Per update and layer: counts held, k = round(f_t · active) dropped among the active and regrown among the inactive. */
function assertUpdates(seen: { record: SparseUpdateRecord; context: SparseUpdateContext }[], targets: Record<string, number>, fraction: number, endStep: number) {
  for (const { record, context } of seen) {
    assert.ok(Math.abs(record.fraction - cosineDropFraction(record.step, fraction, endStep)) < 1e-12);
    for (const [name, s] of Object.entries(targets)) {
      const params = LAYERS[name as keyof typeof LAYERS];
      const active = params - Math.round(s * params);
      const before = maskBits(context.before.get(name)!), after = maskBits(context.after.get(name)!);
      const k = Math.round(record.fraction * active);
      let dropped = 0, regrown = 0;
      for (let i = 0; i < params; i++) {
        if (before[i] && !after[i]) dropped++;
        if (!before[i] && after[i]) regrown++;
      }
      assert.equal(ones(context.before.get(name)!), active, `${name} before step ${record.step}`);
      assert.equal(ones(context.after.get(name)!), active, `${name} after step ${record.step}`);
      // Exactly k changed each way: no just-dropped weight came back, every regrown one was inactive before.
      assert.equal(dropped, k, `${name} dropped at step ${record.step}`);
      assert.equal(regrown, k, `${name} regrown at step ${record.step}`);
      const layer = record.layers.find((l) => l.name === name)!;
      assert.deepEqual(layer, { name, active, dropped: k, regrown: k });
      // The dropped ones are the smallest-magnitude active weights of that moment.
      const w = context.model.graph.initializers.get(name)!.toFloat32();
      let maxDropped = 0, minKept = Infinity;
      for (let i = 0; i < params; i++) {
        if (before[i] && !after[i]) maxDropped = Math.max(maxDropped, Math.abs(w[i]!));
        if (before[i] && after[i]) minKept = Math.min(minKept, Math.abs(w[i]!));
        if (!before[i]) assert.ok(w[i] === 0, `${name}[${i}] inactive but ${w[i]}`);
      }
      if (k) assert.ok(maxDropped <= minKept, `${name}: dropped |w| up to ${maxDropped}, kept from ${minKept}`);
    }
  }
}

test('RigL drop fraction decays with a cosine: f/2 (1 + cos(pi t / T_end)), 0 from T_end', () => {
  assert.equal(cosineDropFraction(0, 0.3, 100), 0.3);
  assert.ok(Math.abs(cosineDropFraction(50, 0.3, 100) - 0.15) < 1e-12);
  assert.ok(Math.abs(cosineDropFraction(25, 0.4, 100) - 0.2 * (1 + Math.SQRT1_2)) < 1e-12);
  assert.equal(cosineDropFraction(100, 0.3, 100), 0);
  assert.equal(cosineDropFraction(150, 0.3, 100), 0);
});

test('static sparse training: the initial random mask stays fixed, sparsity exact, masked weights zero, loss falls', async () => {
  const options = { sparsity: 0.9, seed: 5, skipLast: true };
  const r = await trainSparse(lenet(), options, fineTune(3));
  // The mask is the seeded random mask of the initialization (not a magnitude mask), unchanged by training.
  const initial = pruneUnstructured(lenet(), { ...options, method: 'random' }).masks;
  const magnitude = pruneUnstructured(lenet(), { sparsity: 0.9, skipLast: true }).masks;
  assert.deepEqual([...r.masks.keys()], ['fc1.weight', 'fc2.weight']);
  for (const [name, mask] of r.masks) {
    assert.deepEqual(maskBits(mask), maskBits(initial.get(name)!), `${name} mask changed`);
    assert.notDeepEqual(maskBits(mask), maskBits(magnitude.get(name)!));
  }
  assertExactSparsity(r, { 'fc1.weight': 0.9, 'fc2.weight': 0.9 });
  assert.equal(r.report.layers[2]!.mode, 'skipped');
  assert.equal(r.report.layers[2]!.active, 1000);
  assert.equal(r.report.kind, 'static');
  assert.deepEqual(r.updates, []);
  assertMaskedZero(r.model, r.masks);
  assert.deepEqual(modelSparsity(r.model).layers.map((l) => l.nonzeros), r.report.layers.map((l) => l.nonzeros));
  lossDecreased(r);
});

test('the initial kept weights are scaled by 1/sqrt(density) unless scaleInit is false', async () => {
  const source = lenet();
  const scaled = await trainSparse(source, { sparsity: 0.75, seed: 2, overrides: { 'fc3*': 0.9 } }, fineTune(0));
  const plain = await trainSparse(source, { sparsity: 0.75, seed: 2, overrides: { 'fc3*': 0.9 }, scaleInit: false }, fineTune(0));
  assert.deepEqual(scaled.report.layers.map((l) => l.initScale), [2, 2, 1 / Math.sqrt(0.1)]);
  assert.deepEqual(plain.report.layers.map((l) => l.initScale), [1, 1, 1]);
  for (const [name, mask] of scaled.masks) {
    const bits = maskBits(mask), factor = name === 'fc3.weight' ? Math.fround(1 / Math.sqrt(0.1)) : 2;
    const w0 = source.graph.initializers.get(name)!.toFloat32();
    const a = scaled.model.graph.initializers.get(name)!.toFloat32(), b = plain.model.graph.initializers.get(name)!.toFloat32();
    for (let i = 0; i < w0.length; i++) {
      assert.equal(b[i], bits[i] ? w0[i] : 0);
      assert.ok(bits[i] ? Math.abs(a[i]! - w0[i]! * factor) <= 1e-6 * Math.abs(a[i]!) : a[i] === 0, `${name}[${i}]`);
    }
  }
});

test('static sparse training with a global scope keeps the total sparsity exact', async () => {
  const r = await trainSparse(lenet(), { sparsity: 0.8, scope: 'global', seed: 1 }, fineTune(1));
  assert.equal(r.report.total.params - r.report.total.active, Math.round(0.8 * 266200));
  assertMaskedZero(r.model, r.masks);
});

test('SET: masks change every k steps until stopAt, per-layer counts constant, dropped = smallest |w|, loss falls', async () => {
  // 3 epochs of 8 steps: T = 24, T_end = round(0.75 · 24) = 18, updates after steps 4, 8, 12, 16.
  const targets = { 'fc1.weight': 0.9, 'fc2.weight': 0.8, 'fc3.weight': 0.5 };
  const { r, seen } = await trainDynamic({ kind: 'set', every: 4, fraction: 0.3 }, { sparsity: 0.9, seed: 7, overrides: { 'fc2*': 0.8, 'fc3*': 0.5 } }, 3);
  assert.deepEqual(r.updates.map((u) => u.step), [4, 8, 12, 16]);
  assert.deepEqual(seen.map((s) => s.record), r.updates);
  assertUpdates(seen, targets, 0.3, 18);
  for (const u of r.updates) assert.equal(u.dropped, u.regrown);
  assertExactSparsity(r, targets);
  assertMaskedZero(r.model, r.masks);
  // Masks moved away from the initial random ones; the final masks are the last update's.
  const initial = pruneUnstructured(lenet(), { sparsity: 0.9, seed: 7, overrides: { 'fc2*': 0.8, 'fc3*': 0.5 }, method: 'random' }).masks;
  for (const name of Object.keys(targets)) {
    assert.deepEqual(maskBits(seen[0]!.context.before.get(name)!), maskBits(initial.get(name)!));
    assert.notDeepEqual(maskBits(r.masks.get(name)!), maskBits(initial.get(name)!));
    assert.deepEqual(maskBits(r.masks.get(name)!), maskBits(seen[3]!.context.after.get(name)!));
  }
  // Regrown weights started at 0 and trained: after the last update most are non-zero in the final model (those fed by
  // MNIST's always-blank border pixels get no gradient and stay 0).
  const before = maskBits(seen[3]!.context.before.get('fc1.weight')!), after = maskBits(seen[3]!.context.after.get('fc1.weight')!);
  const w = r.model.graph.initializers.get('fc1.weight')!.toFloat32();
  let moved = 0;
  for (let i = 0; i < w.length; i++) if (!before[i] && after[i] && w[i] !== 0) moved++;
  assert.ok(moved > 0.5 * r.updates[3]!.layers[0]!.regrown, `${moved} regrown weights trained`);
  assert.equal(r.report.kind, 'set');
  lossDecreased(r);
});

test('SET is deterministic: the same seed gives the same masks, another seed other masks', async () => {
  const dynamic = { kind: 'set' as const, every: 4, fraction: 0.5 };
  const a = await trainSparse(lenet(), { sparsity: 0.9, seed: 3, dynamic }, fineTune(2));
  const b = await trainSparse(lenet(), { sparsity: 0.9, seed: 3, dynamic }, fineTune(2));
  const c = await trainSparse(lenet(), { sparsity: 0.9, seed: 4, dynamic }, fineTune(2));
  assert.deepEqual(a.updates.map((u) => u.step), [4, 8]);
  for (const name of Object.keys(LAYERS)) {
    assert.deepEqual(maskBits(a.masks.get(name)!), maskBits(b.masks.get(name)!));
    assert.notDeepEqual(maskBits(a.masks.get(name)!), maskBits(c.masks.get(name)!));
  }
});

test('RigL: regrows the inactive weights of largest dense |gradient|, counts constant, loss falls', async () => {
  const targets = { 'fc1.weight': 0.9, 'fc2.weight': 0.9, 'fc3.weight': 0.9 };
  const { r, seen } = await trainDynamic({ kind: 'rigl', every: 4 }, { sparsity: 0.9, seed: 11 }, 3);
  assert.deepEqual(r.updates.map((u) => u.step), [4, 8, 12, 16]);
  assertUpdates(seen, targets, 0.3, 18);
  assertExactSparsity(r, targets);
  assertMaskedZero(r.model, r.masks);
  // Peer: dense gradients of the second update's weights over the samples of step 9 (the batch after the update).
  const { context } = seen[1]!;
  assert.equal(seen[1]!.record.step, 8);
  const step9 = [...loader().batches(1)][0]!;
  assert.deepEqual((context.gradientLoader!.dataset as SubsetDataset).indices, Int32Array.from(step9.indices));
  const own = new DataLoader(new SubsetDataset(loader().dataset, Int32Array.from(step9.indices)), { batchSize: step9.size });
  const gradients = await accumulateGradients(nodeRuntime, context.model, own, Object.keys(LAYERS), { batches: 1, threads: 1 });
  for (const name of Object.keys(LAYERS)) {
    const g = gradients.get(name)!;
    const before = maskBits(context.before.get(name)!), after = maskBits(context.after.get(name)!);
    let minRegrown = Infinity, maxLeft = 0, regrown = 0;
    for (let i = 0; i < g.length; i++) {
      if (before[i]) continue;
      if (after[i]) { regrown++; minRegrown = Math.min(minRegrown, Math.abs(g[i]!)); } else maxLeft = Math.max(maxLeft, Math.abs(g[i]!));
    }
    assert.ok(regrown > 0);
    assert.ok(minRegrown >= maxLeft, `${name}: regrown |g| from ${minRegrown}, left inactive up to ${maxLeft}`);
    assert.ok(minRegrown > 0, `${name}: a weight with zero gradient was regrown`);
  }
  for (const name of Object.keys(LAYERS)) {
    const initial = maskBits(seen[0]!.context.before.get(name)!);
    assert.notDeepEqual(maskBits(r.masks.get(name)!), initial);
  }
  assert.equal(r.report.kind, 'rigl');
  lossDecreased(r);
});

test('bad input: one-line PruneErrors for sparsity, update interval, drop fraction and stopAt', async () => {
  const cases: [SparseTrainingOptions, RegExp][] = [
    [{ sparsity: 1 }, /sparsity 1 is outside \[0, 1\)/],
    [{ sparsity: -0.1, dynamic: { kind: 'set' } }, /sparsity -0.1 is outside/],
    [{ sparsity: 0.5, dynamic: { kind: 'set', every: 0 } }, /positive whole number of steps.*got 0/],
    [{ sparsity: 0.5, dynamic: { kind: 'rigl', every: 2.5 } }, /got 2.5/],
    [{ sparsity: 0.5, dynamic: { kind: 'rigl', fraction: 0 } }, /drop fraction 0 is outside \(0, 1\]/],
    [{ sparsity: 0.5, dynamic: { kind: 'set', fraction: 1.5 } }, /drop fraction 1.5 is outside/],
    [{ sparsity: 0.5, dynamic: { kind: 'set', stopAt: 0 } }, /stopAt 0 is outside/],
    [{ sparsity: 0.5, dynamic: { kind: 'prune' as 'set' } }, /unknown dynamic sparse training 'prune'/],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(trainSparse(lenet(), options, fineTune(1)), (e: Error) => {
      assert.ok(e instanceof PruneError, `${e.name}: ${e.message}`);
      assert.match(e.message, message);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  }
});

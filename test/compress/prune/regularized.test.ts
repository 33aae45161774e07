import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataLoader } from '../../../src/data/loader.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { openDataset } from '../../../src/node/datasets.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { batchNormScales, meanAbs, trainWithL1Penalty } from '../../../src/compress/prune/regularized.js';
import { fineTuneMasked } from '../../../src/compress/prune/schedules.js';

const mnist = openDataset('mnist', 'train');
const plainSgd = { kind: 'sgd' as const };

test('one SGD step with an L1 penalty moves each penalized weight by exactly -lr·λ·sign(w) more than without', async () => {
  const model = buildArch('lenet-300-100', { seed: 3 });
  const oneBatch = () => new DataLoader(mnist, { batchSize: 32, limit: 32 });
  const lr = 0.1, strength = 0.01;
  const penalized = await trainWithL1Penalty(model, { runtime: nodeRuntime, loader: oneBatch(), epochs: 1, lr, optimizer: plainSgd, threads: 1, strength, params: ['fc2.weight'] });
  // The same step without the penalty: masked fine-tuning with all-ones masks is plain training.
  const plain = await fineTuneMasked(model, new Map(), { runtime: nodeRuntime, loader: oneBatch(), epochs: 1, lr, optimizer: plainSgd, threads: 1 });
  const w0 = model.graph.initializers.get('fc2.weight')!.toFloat32();
  const wp = penalized.model.graph.initializers.get('fc2.weight')!.toFloat32();
  const wn = plain.model.graph.initializers.get('fc2.weight')!.toFloat32();
  let checked = 0;
  for (let i = 0; i < w0.length; i++) {
    const expected = -lr * strength * Math.sign(w0[i]!);
    assert.ok(Math.abs(wp[i]! - wn[i]! - expected) < 1e-6, `fc2.weight[${i}]: ${wp[i]! - wn[i]!} vs ${expected}`);
    checked++;
  }
  assert.equal(checked, 300 * 100);
  // Unpenalized parameters take the same step either way.
  const a = penalized.model.graph.initializers.get('fc1.weight')!.toFloat32();
  const b = plain.model.graph.initializers.get('fc1.weight')!.toFloat32();
  for (let i = 0; i < a.length; i += 97) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-7);
});

test('network slimming: the L1 penalty on BatchNorm scales shrinks them (resnet-8, MNIST subset)', async () => {
  const model = buildArch('resnet-8', { inputShape: [1, 28, 28], classes: 10, seed: 1 });
  const scales = batchNormScales(model);
  const bnCount = model.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length;
  assert.equal(scales.length, bnCount);
  assert.ok(bnCount >= 7);
  const options = { runtime: nodeRuntime, epochs: 1, lr: 0.05, threads: 1 };
  const loader = () => new DataLoader(mnist, { batchSize: 32, limit: 320, shuffle: true, seed: 2 });
  const slim = await trainWithL1Penalty(model, { ...options, loader: loader(), strength: 0.05, params: scales });
  const plain = await fineTuneMasked(model, new Map(), { ...options, loader: loader() });
  const before = meanAbs(model, scales), withPenalty = meanAbs(slim.model, scales), without = meanAbs(plain.model, scales);
  assert.ok(withPenalty < without - 0.01, `mean |gamma|: ${before} at start, ${without} trained plainly, ${withPenalty} with the penalty`);
});

test('penalty options are checked', async () => {
  const model = buildArch('lenet-300-100', { seed: 3 });
  const loader = new DataLoader(mnist, { batchSize: 32, limit: 32 });
  await assert.rejects(trainWithL1Penalty(model, { runtime: nodeRuntime, loader, epochs: 1, lr: 0.1, strength: 0, params: ['fc1.weight'] }), /strength must be a positive number/);
  await assert.rejects(trainWithL1Penalty(model, { runtime: nodeRuntime, loader, epochs: 1, lr: 0.1, strength: 1e-4, params: [] }), /applies to no parameter/);
  assert.deepEqual(batchNormScales(model), []);
});

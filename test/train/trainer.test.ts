import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TensorDataset } from '../../src/data/dataset.js';
import { DataLoader } from '../../src/data/loader.js';
import { buildArch } from '../../src/nn/zoo.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { TrainingSession } from '../../src/train/session.js';
import { buildTrainingProgram } from '../../src/train/training-graph.js';
import { fit } from '../../src/train/trainer.js';
import { seededRandom } from '../helpers/single-op.js';

// Two Gaussian blobs in 4-D: a linearly separable problem a small MLP learns in a few epochs.
function blobs(n: number, seed: number): TensorDataset {
  const rand = seededRandom(seed);
  const inputs = new Float32Array(n * 4);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let j = 0; j < 4; j++) inputs[i * 4 + j] = (labels[i] ? 1 : -1) + (rand() - 0.5);
  }
  return new TensorDataset({ inputs, sampleShape: [4], labels, classes: 2 });
}

async function setup(seed = 1) {
  const model = buildArch('mlp:4-8-2', { inputShape: [4], classes: 2, seed });
  const program = buildTrainingProgram(model, { optimizer: { kind: 'sgd', momentum: 0.9 } });
  const session = await TrainingSession.create(nodeRuntime, program, { kind: 'sgd', momentum: 0.9 }, { threads: 1 });
  return { model, session, loader: new DataLoader(blobs(64, seed), { batchSize: 16, shuffle: true, seed }) };
}

test('fit trains, reports per-epoch records and calls back after each epoch with a runnable model', async () => {
  const { model, session, loader } = await setup();
  const seen: number[] = [];
  let steps = 0;
  const r = await fit(session, model, loader, {
    epochs: 4, lr: 0.05,
    onStep: () => { steps++; },
    onEpoch: async (record, m) => { seen.push(record.epoch); assert.ok(m.graph.initializers.has('fc1.weight')); },
  });
  assert.deepEqual(seen, [0, 1, 2, 3]);
  assert.equal(steps, 4 * loader.batchCount);
  assert.ok(r.history[3]!.trainLoss < r.history[0]!.trainLoss);
  assert.ok(r.history[3]!.trainAccuracy! > 0.9);
  await session.release();
});

test('early stopping ends the run once evaluation stops improving for `patience` epochs', async () => {
  const { model, session, loader } = await setup();
  const accuracies = [0.5, 0.7, 0.7, 0.69, 0.9, 0.95];
  const r = await fit(session, model, loader, {
    epochs: 6, lr: 0.05, earlyStopping: { patience: 2 },
    evaluate: async (_m, epoch) => ({ accuracy: accuracies[epoch]!, top5: null, loss: 1, samples: 10, samplesPerSec: 1 }),
  });
  assert.equal(r.stoppedEarly, true);
  assert.equal(r.history.length, 4, 'epochs 0-3: no improvement after epoch 1 for two epochs');
  assert.equal(r.bestEpoch, 1);
  await session.release();
});

test('an abort signal ends the run after the current step', async () => {
  const { model, session, loader } = await setup();
  const controller = new AbortController();
  let steps = 0;
  const r = await fit(session, model, loader, { epochs: 3, lr: 0.05, signal: controller.signal, onStep: () => { if (++steps === 2) controller.abort(); } });
  assert.equal(r.interrupted, true);
  assert.equal(steps, 2);
  assert.equal(session.step, 2);
  await session.release();
});

test('training leaves the source model untouched, BatchNorm running statistics included', async () => {
  // onnxruntime-node wrote BatchNormalization's running variance into the buffer it was fed: the source model's
  // initializer changed, and with it any teacher or later trial built from the same model.
  const model = buildArch('resnet-8', { inputShape: [1, 12, 12], classes: 4, seed: 3 });
  const before = new Map([...model.graph.initializers].map(([k, t]) => [k, Float32Array.from(t.toFloat32())]));
  const random = seededRandom(5);
  const inputs = Float32Array.from({ length: 16 * 144 }, () => random());
  const labels = Int32Array.from({ length: 16 }, (_, i) => i % 4);
  const loader = new DataLoader(new TensorDataset({ inputs, labels, sampleShape: [1, 12, 12], classes: 4 }), { batchSize: 8 });
  const optimizer = { kind: 'sgd' as const, momentum: 0.9 };
  const session = await TrainingSession.create(nodeRuntime, buildTrainingProgram(model, { optimizer }), optimizer, { threads: 1 });
  try {
    await fit(session, model, loader, { epochs: 1, lr: 0.1 });
    const stats = [...session.modelValues()].filter(([k]) => k.includes('running_var'));
    assert.ok(stats.length > 0 && stats.some(([k, t]) => t.toFloat32().some((v, i) => v !== before.get(k)![i])), 'the running variance was updated');
  } finally {
    await session.release();
  }
  for (const [k, t] of model.graph.initializers) assert.deepEqual(t.toFloat32(), before.get(k), k);
});

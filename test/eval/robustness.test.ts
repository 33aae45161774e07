import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/core/ir.js';
import { Tensor } from '../../src/core/tensor.js';
import { DataLoader } from '../../src/data/loader.js';
import { ClassificationMeter, evaluateClassifier } from '../../src/eval/classification.js';
import { InputGradientSession, evaluateRobustness, fgsmStep } from '../../src/eval/robustness.js';
import { buildArch } from '../../src/nn/zoo.js';
import { openDataset } from '../../src/node/datasets.js';
import { seededRandom } from '../../src/runtime/inputs.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { trainModel } from '../../src/compress/prune/schedules.js';

/** Gives every BatchNormalization non-trivial running statistics and affine parameters (fresh zoo models hold 1s and 0s). */
function randomizeBatchNorm(model: Model, seed: number): Model {
  const m = model.clone();
  const random = seededRandom(seed);
  for (const node of m.graph.nodes.filter((n) => n.opType === 'BatchNormalization')) {
    node.inputs.slice(1, 5).forEach((name, i) => {
      const t = m.graph.initializers.get(name)!;
      // scale, bias, mean: around 0 or 1; variance: positive
      const values = Array.from({ length: t.size }, () => (i === 0 ? 0.5 + random() : i === 3 ? 0.3 + random() : random() - 0.5));
      m.graph.initializers.set(name, Tensor.fromFloat32(name, [...t.dims], values));
    });
  }
  return m;
}

/** The model with every Relu replaced by Tanh: a smooth loss, so central differences are exact to O(eps²) (no kinks). */
function smooth(model: Model): Model {
  const m = model.clone();
  for (const node of m.graph.nodes) if (node.opType === 'Relu') node.opType = 'Tanh';
  return m;
}

/** Mean softmax cross-entropy of the model on (x, labels), in float64 from onnxruntime's logits. */
async function lossOf(session: Awaited<ReturnType<typeof nodeRuntime.createSession>>, input: string, x: Tensor, labels: Tensor): Promise<number> {
  const out = await session.run({ [input]: x.renamed(input) });
  const meter = new ClassificationMeter();
  meter.add(Object.values(out)[0]!, labels);
  return meter.lossSum / meter.samples;
}

test('the input gradient from the autograd graph matches finite differences of the loss: MLP, LeNet-5, ResNet-8 with BatchNormalization', async () => {
  // ReLU's kinks sit within 1e-3 of random inputs often enough to spoil central differences (seen here on ResNet-8),
  // so the models use Tanh; the Relu rule has its own gradient check.
  const cases: { name: string; model: Model; shape: number[]; classes: number }[] = [
    { name: 'mlp [N, 16]', model: smooth(buildArch('mlp:16-12-4', { seed: 2 })), shape: [16], classes: 4 },
    { name: 'lenet-5', model: smooth(buildArch('lenet-5', { seed: 3, width: 0.25, inputShape: [1, 16, 16], classes: 5 })), shape: [1, 16, 16], classes: 5 },
    { name: 'resnet-8', model: smooth(randomizeBatchNorm(buildArch('resnet-8', { seed: 4, width: 0.25, inputShape: [2, 8, 8], classes: 4 }), 9)), shape: [2, 8, 8], classes: 4 },
  ];
  for (const c of cases) {
    assert.ok(c.name !== 'resnet-8' || c.model.graph.nodes.some((n) => n.opType === 'BatchNormalization'));
    const random = seededRandom(17);
    const batch = 3;
    const size = c.shape.reduce((a, d) => a * d, 1);
    const x = Tensor.fromFloat32('x', [batch, ...c.shape], Array.from({ length: batch * size }, () => random() * 2 - 1));
    const labels = Tensor.fromInt64('labels', [batch], Array.from({ length: batch }, () => Math.floor(random() * c.classes)));

    const gradients = await InputGradientSession.create(nodeRuntime, c.model, { threads: 1 });
    const forward = await nodeRuntime.createSession(c.model, { threads: 1 });
    try {
      const { gradient, loss } = await gradients.run(x, labels);
      assert.deepEqual([...gradient.dims], [...x.dims], `${c.name}: the gradient has the input's shape`);
      const input = gradients.program.input;
      const base = await lossOf(forward, input, x, labels);
      assert.ok(Math.abs(loss - base) < 1e-5 * Math.max(1, base), `${c.name}: graph loss ${loss}, direct ${base}`);
      const g = gradient.toFloat32();
      const maxAbs = g.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      assert.ok(maxAbs > 0, `${c.name}: the gradient is not all zeros`);
      // A small step: MaxPool's argmax switches within 1e-2 of some inputs.
      const eps = 1e-3;
      for (let s = 0; s < 48; s++) {
        const i = Math.floor(random() * x.size);
        const at = async (delta: number) => {
          const v = Float32Array.from(x.toFloat32());
          v[i]! += delta;
          return lossOf(forward, input, new Tensor('x', x.dataType, x.dims, v), labels);
        };
        const numeric = ((await at(eps)) - (await at(-eps))) / (2 * eps);
        assert.ok(Math.abs(numeric - g[i]!) <= 2e-3 * maxAbs + 1e-2 * Math.abs(numeric),
          `${c.name}: d loss / d x[${i}] is ${g[i]}, finite differences give ${numeric} (largest gradient ${maxAbs})`);
      }
    } finally {
      await gradients.release();
      await forward.release();
    }
  }
});

test('fgsmStep adds eps·sign(gradient), no step where the gradient is 0 or NaN, and clamps', () => {
  const x = Float32Array.from([0.5, 0.5, 0.5, 0.95, 0.02]);
  const g = Float32Array.from([2, -1e-30, 0, 3, NaN]);
  assert.deepEqual([...fgsmStep(x, g, 0.1)], [0.6, 0.4, 0.5, 1.05, 0.02].map(Math.fround));
  assert.deepEqual([...fgsmStep(x, g, 0.1, [0, 1])], [0.6, 0.4, 0.5, 1, 0.02].map(Math.fround));
});

const testData = openDataset('mnist', 'test');

test('noise 0 and FGSM eps 0 give the clean accuracy exactly, which is evaluateClassifier\'s, for an MLP on flat inputs, LeNet-5 and ResNet-8', async () => {
  const loader = new DataLoader(testData, { batchSize: 100, limit: 200 });
  const models: [string, Model][] = [
    ['lenet-300-100 [N, 784]', buildArch('lenet-300-100', { seed: 1, inputShape: [784] })],
    ['lenet-5', buildArch('lenet-5', { seed: 1, width: 0.25 })],
    ['resnet-8', randomizeBatchNorm(buildArch('resnet-8', { seed: 1, width: 0.25, inputShape: [1, 28, 28] }), 3)],
  ];
  for (const [name, model] of models) {
    const r = await evaluateRobustness(nodeRuntime, model, loader, { noise: [0, 0.3], fgsm: [0, 0.3], clamp: [0, 1], seed: 1, threads: 1 });
    const reference = await evaluateClassifier(nodeRuntime, model, loader, { threads: 1 });
    assert.equal(r.samples, 200);
    assert.equal(r.clean, reference.accuracy, name);
    assert.deepEqual(r.noise.map((p) => p.strength), [0, 0.3]);
    assert.deepEqual(r.fgsm.map((p) => p.strength), [0, 0.3]);
    assert.equal(r.noise[0]!.accuracy, r.clean, `${name}: noise 0`);
    assert.equal(r.fgsm[0]!.accuracy, r.clean, `${name}: FGSM eps 0`);
  }
  await assert.rejects(evaluateRobustness(nodeRuntime, models[0]![1], loader, { fgsm: [-0.1] }), /FGSM strengths must be finite and non-negative, got -0.1/);
  await assert.rejects(evaluateRobustness(nodeRuntime, models[0]![1], loader, { noise: [0.1], clamp: [1, 0] }), /clamp range \[1, 0\] is empty/);
});

test('a trained MLP loses far more accuracy under FGSM than under Gaussian noise of the same per-pixel size; FGSM raises the loss', async () => {
  const train = new DataLoader(openDataset('mnist', 'train'), { batchSize: 64, limit: 8000, shuffle: true, seed: 2 });
  const { model } = await trainModel(buildArch('lenet-300-100', { seed: 2, width: 0.25, inputShape: [784] }), {}, { runtime: nodeRuntime, loader: train, epochs: 2, lr: 0.05, threads: 2 });
  const loader = new DataLoader(testData, { batchSize: 250, limit: 1000 });
  const options = { noise: [0, 0.1, 0.2], fgsm: [0, 0.05, 0.1, 0.2], clamp: [0, 1] as [number, number], seed: 4, threads: 2 };
  const r = await evaluateRobustness(nodeRuntime, model, loader, options);
  const [noise0, noise1, noise2] = r.noise.map((p) => p.accuracy) as [number, number, number];
  const [fgsm0, fgsm05, fgsm1, fgsm2] = r.fgsm.map((p) => p.accuracy) as [number, number, number, number];
  const summary = `clean ${r.clean}, noise ${r.noise.map((p) => p.accuracy)}, FGSM ${r.fgsm.map((p) => p.accuracy)}`;
  assert.ok(r.clean > 0.85, summary);
  assert.equal(noise0, r.clean);
  assert.equal(fgsm0, r.clean);
  // Random noise of std 0.1 barely matters; a worst-case step of 0.1 per pixel does.
  assert.ok(noise1 > r.clean - 0.05, summary);
  assert.ok(fgsm1 < noise1 - 0.25, summary);
  assert.ok(fgsm2 < noise2 - 0.25, summary);
  assert.ok(fgsm05 < r.clean && fgsm1 < fgsm05 && fgsm2 < fgsm1, summary);

  // Seeded: the same seed gives the same noise results.
  const again = await evaluateRobustness(nodeRuntime, model, loader, { ...options, fgsm: [] });
  assert.deepEqual(again.noise, r.noise);

  // The step goes uphill: the loss after an FGSM step exceeds the loss before it.
  const batch = loader.batches(0).next().value!;
  const gradients = await InputGradientSession.create(nodeRuntime, model, { threads: 2 });
  try {
    const x = new Tensor('x', batch.inputs.dataType, [batch.size, 784], batch.inputs.toFloat32());
    const before = await gradients.run(x, batch.labels);
    const stepped = fgsmStep(x.toFloat32(), before.gradient.toFloat32(), 0.02, [0, 1]);
    const after = await gradients.run(new Tensor('x', x.dataType, x.dims, stepped), batch.labels);
    assert.ok(after.loss > before.loss * 1.2, `loss ${before.loss} -> ${after.loss}`);
  } finally {
    await gradients.release();
  }
});

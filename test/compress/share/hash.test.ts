// Hashed weight sharing (HashedNets): the graph's integer hash against the TypeScript one (onnxruntime-node and -web,
// bit for bit), stored bytes, the bucket gradient against the scatter-add of the dense gradient, training on an MNIST
// subset, conv layers and old opsets, and bad options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeModel } from '../../../src/core/codec.js';
import { DataType, isFloatType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { inferShapes } from '../../../src/core/shape/infer.js';
import { Tensor } from '../../../src/core/tensor.js';
import { assertRunnable, validateModel } from '../../../src/core/validate.js';
import { DataLoader } from '../../../src/data/loader.js';
import { evaluateClassifier } from '../../../src/eval/classification.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { openDataset } from '../../../src/node/datasets.js';
import { randomInputs } from '../../../src/runtime/inputs.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { Runtime } from '../../../src/runtime/session.js';
import { webRuntime } from '../../../src/runtime/web.js';
import { buildTrainingProgram } from '../../../src/train/training-graph.js';
import { accumulateGradients } from '../../../src/compress/prune/criteria.js';
import { trainModel } from '../../../src/compress/prune/schedules.js';
import {
  HashError, HashReport, bucketGradient, densifyHashed, hashBucketIndices, hashSigns, hashWeights, mix32, trainHashed, virtualWeights,
} from '../../../src/compress/share/hash.js';

const train = openDataset('mnist', 'train');
const testSet = openDataset('mnist', 'test');
const loader = new DataLoader(train, { batchSize: 64, limit: 6400, shuffle: true, seed: 1 });
const testLoader = new DataLoader(testSet, { batchSize: 500, limit: 2000 });
const accuracy = async (m: Model) => (await evaluateClassifier(nodeRuntime, m, testLoader, { threads: 1 })).accuracy;

/** Runs the model with its hashed weights added as outputs; returns them by weight name. */
async function computedWeights(runtime: Runtime, model: Model, report: HashReport): Promise<Map<string, Float32Array>> {
  const m = model.clone();
  for (const l of report.layers) m.graph.outputs.push({ name: l.weight });
  const session = await runtime.createSession(m, { threads: 1 });
  try {
    const out = await session.run(randomInputs(m, { batch: 1, seed: 1 }));
    return new Map(report.layers.map((l) => [l.weight, out[l.weight]!.toFloat32()]));
  } finally {
    await session.release();
  }
}

/** Bytes of the float initializers (the weights and buckets a file stores). */
const floatBytes = (m: Model) => [...m.graph.initializers.values()].filter((t) => isFloatType(t.dataType)).reduce((n, t) => n + t.byteLength, 0);

test('mix32 is lowbias32 (reference values), a bijection on a sample, and the hash spreads evenly over the buckets', () => {
  // lowbias32 computed by hand with 64-bit BigInt arithmetic, independently of Math.imul.
  const reference = (v: number) => {
    let x = BigInt(v);
    const m = 0xffffffffn;
    x ^= x >> 16n; x = (x * 0x7feb352dn) & m; x ^= x >> 15n; x = (x * 0x846ca68bn) & m; x ^= x >> 16n;
    return Number(x);
  };
  for (const v of [0, 1, 2, 12345, 0x7fffffff, 0x80000000, 0xdeadbeef, 0xffffffff]) assert.equal(mix32(v), reference(v), `mix32(${v})`);
  const seen = new Set<number>();
  for (let i = 0; i < 100000; i++) seen.add(mix32(i));
  assert.equal(seen.size, 100000);
  // 235200 weights into 29400 buckets: counts near 8 each, signs near half negative.
  const index = hashBucketIndices(235200, 29400, 0x1234567);
  const counts = new Uint32Array(29400);
  for (const k of index) counts[k]++;
  const mean = 8, variance = counts.reduce((s, c) => s + (c - mean) ** 2, 0) / counts.length;
  assert.ok(Math.abs(variance - 8 * (1 - 1 / 29400)) < 0.5, `bucket count variance ${variance} (multinomial: ~8)`);
  const negatives = hashSigns(235200, 0x89abcdef).reduce((n, s) => n + (s < 0 ? 1 : 0), 0);
  assert.ok(Math.abs(negatives / 235200 - 0.5) < 0.005, `${negatives} negative signs`);
});

test('the graph computes the TypeScript hash: indices and signs bit for bit in onnxruntime-node and -web', async () => {
  const model = buildArch('lenet-300-100', { seed: 1 });
  for (const signHash of [true, false]) {
    const hashed = hashWeights(model, { ratio: 1 / 8, seed: 7, signHash });
    // Buckets 1..B make each virtual weight ±(index + 1): the graph's index and sign read straight off.
    for (const l of hashed.report.layers) hashed.model.graph.initializers.set(l.bucketTensor, Tensor.fromFloat32(l.bucketTensor, [l.buckets], Float32Array.from({ length: l.buckets }, (_, k) => k + 1)));
    for (const runtime of [nodeRuntime, webRuntime]) {
      const computed = await computedWeights(runtime, hashed.model, hashed.report);
      for (const l of hashed.report.layers) {
        const got = computed.get(l.weight)!;
        const index = hashBucketIndices(l.virtualWeights, l.buckets, l.bucketKey);
        const signs = l.signKey === null ? undefined : hashSigns(l.virtualWeights, l.signKey);
        assert.equal(got.length, l.virtualWeights);
        for (let i = 0; i < got.length; i++) {
          if (got[i] !== (signs?.[i] ?? 1) * (index[i]! + 1)) assert.fail(`${runtime.name}, ${l.weight}[${i}]: graph ${got[i]}, TypeScript ${(signs?.[i] ?? 1) * (index[i]! + 1)}`);
        }
      }
    }
    assert.equal(hashed.report.signHash, signHash);
    if (!signHash) assert.ok(hashed.report.layers.every((l) => l.signKey === null));
  }
});

test('lenet-300-100 at ratio 1/8: 8x fewer weight bytes, the original weights fitted by least squares, runnable, same as its dense equivalent', async () => {
  const model = buildArch('lenet-300-100', { seed: 1 });
  const { model: hashed, report } = hashWeights(model, { ratio: 1 / 8 });
  validateModel(hashed);
  assertRunnable(hashed);
  // Shape inference sees through the integer hash ops: the hashed weights keep their static shapes.
  const facts = inferShapes(hashed).values;
  assert.deepEqual(report.layers.map((l) => facts.get(l.weight)?.shape), [[300, 784], [100, 300], [10, 100]]);
  assert.equal(model.graph.initializers.get('fc1.weight')!.dims.length, 2, 'the input model is not changed');
  assert.deepEqual(report.layers.map((l) => [l.weight, l.virtualWeights, l.buckets]), [['fc1.weight', 235200, 29400], ['fc2.weight', 30000, 3750], ['fc3.weight', 1000, 125]]);
  assert.equal(report.virtualWeights, 266200);
  assert.equal(report.buckets, 33275);
  // Weights: float bytes (weights and biases) and the encoded file both shrink close to 8x.
  const weightRatio = report.bytesBefore / report.bytesAfter;
  assert.ok(weightRatio > 7.9 && weightRatio <= 8, `weight bytes ${report.bytesBefore} -> ${report.bytesAfter}`);
  assert.equal(floatBytes(hashed), 4 * (33275 + 410) + 8, 'buckets, biases and the two scalars of 1 - 2·bit');
  const fileBefore = encodeModel(model).bytes.byteLength, fileAfter = encodeModel(hashed).bytes.byteLength;
  assert.ok(fileBefore / fileAfter > 7.3, `file ${fileBefore} -> ${fileAfter} bytes`);
  // No full-size integer tensor is stored: the largest non-bucket initializer is a handful of elements.
  const others = [...hashed.graph.initializers.values()].filter((t) => !t.name.endsWith('.buckets'));
  assert.ok(Math.max(...others.map((t) => t.size)) <= 410, others.map((t) => `${t.name}:${t.size}`).join(' '));

  // Least squares: each bucket is the mean of sign·W over its weights, so moving any one bucket increases the error.
  for (const l of report.layers) {
    const w = model.graph.initializers.get(l.weight)!.toFloat32();
    const buckets = hashed.graph.initializers.get(l.bucketTensor)!.toFloat32();
    const index = hashBucketIndices(l.virtualWeights, l.buckets, l.bucketKey), signs = hashSigns(l.virtualWeights, l.signKey!);
    const sums = new Float64Array(l.buckets), counts = new Float64Array(l.buckets);
    for (let i = 0; i < w.length; i++) { sums[index[i]!] += signs[i]! * w[i]!; counts[index[i]!]++; }
    for (let k = 0; k < l.buckets; k += 97) assert.ok(Math.abs(buckets[k]! - (counts[k] ? sums[k]! / counts[k]! : 0)) < 1e-6);
    // Untrained weights are independent: sharing 8 to a bucket keeps about sqrt(1/8) of their energy, error sqrt(7/8).
    assert.ok(Math.abs(l.relativeError - Math.sqrt(7 / 8)) < 0.01, `${l.weight}: relative error ${l.relativeError}`);
  }

  // The dense equivalent holds exactly the computed virtual weights and gives the same outputs.
  const dense = densifyHashed(hashed, report);
  const computed = await computedWeights(nodeRuntime, hashed, report);
  for (const l of report.layers) assert.deepEqual(dense.graph.initializers.get(l.weight)!.toFloat32(), computed.get(l.weight));
  assert.equal(dense.graph.nodes.length, model.graph.nodes.length);
  const feeds = randomInputs(model, { batch: 4, seed: 2 });
  const outs: Float32Array[] = [];
  for (const m of [hashed, dense]) {
    const s = await nodeRuntime.createSession(m, { threads: 1 });
    outs.push(Object.values(await s.run(feeds))[0]!.toFloat32());
    await s.release();
  }
  assert.deepEqual(outs[0], outs[1]);
});

test('the bucket gradient is the scatter-add of the dense-equivalent gradient times the signs; autograd leaves the index subgraph alone', async () => {
  const model = buildArch('lenet-300-100', { seed: 3 });
  const { model: hashed, report } = hashWeights(model, { ratio: 1 / 16, seed: 5 });
  const program = buildTrainingProgram(hashed, { optimizer: { kind: 'sgd' } });
  assert.deepEqual([...program.params].sort(), ['fc1.bias', 'fc1.weight.buckets', 'fc2.bias', 'fc2.weight.buckets', 'fc3.bias', 'fc3.weight.buckets']);
  const dense = densifyHashed(hashed, report);
  const batches = new DataLoader(train, { batchSize: 32, limit: 96 });
  const bucketGrads = await accumulateGradients(nodeRuntime, hashed, batches, report.layers.map((l) => l.bucketTensor), { threads: 1 });
  const denseGrads = await accumulateGradients(nodeRuntime, dense, batches, report.layers.map((l) => l.weight), { threads: 1 });
  for (const l of report.layers) {
    const expected = bucketGradient(l, denseGrads.get(l.weight)!);
    const got = bucketGrads.get(l.bucketTensor)!;
    let scale = 0, worst = 0;
    for (let k = 0; k < expected.length; k++) scale = Math.max(scale, Math.abs(expected[k]!));
    for (let k = 0; k < expected.length; k++) worst = Math.max(worst, Math.abs(got[k]! - expected[k]!));
    assert.ok(scale > 0, `${l.weight}: no gradient`);
    assert.ok(worst <= 1e-4 * scale, `${l.bucketTensor}: differs from the scatter-add by ${worst} (largest ${scale})`);
  }
});

test('hashed lenet-300-100 (1/8) trains on an MNIST subset: from buckets fitted to a trained model, and from fresh buckets', async () => {
  const options = { runtime: nodeRuntime, loader, epochs: 2, lr: 0.05, threads: 1 };
  const dense = (await trainModel(buildArch('lenet-300-100', { seed: 1 }), {}, options)).model;
  const denseAccuracy = await accuracy(dense);
  const tuned = await trainHashed(dense, { ratio: 1 / 8 }, options);
  const fresh = await trainHashed(buildArch('lenet-300-100', { seed: 1 }), { ratio: 1 / 8, init: 'fresh', seed: 3 }, options);
  const tunedAccuracy = await accuracy(tuned.model), freshAccuracy = await accuracy(fresh.model);
  // 200 steps: dense about 90%, hashed about 88% (chance is 10%).
  assert.ok(denseAccuracy > 0.85, `dense ${denseAccuracy}`);
  assert.ok(tunedAccuracy > 0.8, `hashed, fine-tuned from fitted buckets: ${tunedAccuracy}`);
  assert.ok(freshAccuracy > 0.8, `hashed, trained from fresh buckets: ${freshAccuracy}`);
  assert.equal(tuned.fit.history.reduce((n, e) => n + e.samples, 0), 2 * 6400, 'two epochs of the 6400-sample subset (200 steps)');
  // Training changed the buckets and kept the hashed structure (no dense weight came back).
  for (const l of tuned.report.layers) {
    assert.ok(!tuned.model.graph.initializers.has(l.weight));
    assert.equal(tuned.model.graph.initializers.get(l.bucketTensor)!.size, l.buckets);
  }
  assert.equal(floatBytes(tuned.model), floatBytes(hashWeights(dense, { ratio: 1 / 8 }).model));
});

test('per-layer ratios, exclusion, conv layers, an old opset and fresh buckets', async () => {
  const mlp = buildArch('lenet-300-100', { seed: 1 });
  const { model, report } = hashWeights(mlp, { ratio: 1 / 8, layers: [{ pattern: 'fc3*', ratio: 1 }], exclude: ['fc1'] });
  assert.deepEqual(report.excluded, ['fc1.weight']);
  assert.deepEqual(report.layers.map((l) => [l.weight, l.buckets, l.ratio]), [['fc2.weight', 3750, 0.125], ['fc3.weight', 1000, 1]]);
  assert.deepEqual(model.graph.initializers.get('fc1.weight')!.toFloat32(), mlp.graph.initializers.get('fc1.weight')!.toFloat32());

  // LeNet-5 at opset 13: conv and dense weights hashed, the opset raised to 18 for BitwiseXor; node and web agree.
  const lenet5 = buildArch('lenet-5', { seed: 1 });
  lenet5.opsetImports.set('', 13);
  const conv = hashWeights(lenet5, { ratio: 1 / 4, init: 'fresh', seed: 9 });
  assert.equal(conv.model.opset(''), 18);
  assert.ok(conv.report.layers.some((l) => l.opType === 'Conv' && l.dims.length === 4));
  for (const l of conv.report.layers) {
    const b = conv.model.graph.initializers.get(l.bucketTensor)!.toFloat32();
    const fanIn = l.opType === 'Conv' ? l.dims[1]! * l.dims[2]! * l.dims[3]! : l.dims[1]!;
    assert.ok(b.every((v) => Math.abs(v) <= 1 / Math.sqrt(fanIn)), `${l.weight}: fresh buckets within ±1/sqrt(fan-in)`);
  }
  for (const runtime of [nodeRuntime, webRuntime]) {
    const computed = await computedWeights(runtime, conv.model, conv.report);
    for (const l of conv.report.layers) assert.deepEqual(computed.get(l.weight), virtualWeights(l, conv.model.graph.initializers.get(l.bucketTensor)!.toFloat32()), `${runtime.name} ${l.weight}`);
  }
});

test('session creation folds the index subgraph: a hashed 784x300 layer runs like the dense one', async (t) => {
  const model = buildArch('mlp:784-300', { seed: 1 });
  const { model: hashed } = hashWeights(model, { ratio: 1 / 8 });
  const input = randomInputs(model, { batch: 64, seed: 1 });
  const sessions = [];
  const created: number[] = [];
  for (const m of [model, hashed]) {
    const start = performance.now();
    sessions.push(await nodeRuntime.createSession(m, { threads: 1 }));
    created.push(performance.now() - start);
  }
  // Alternating batches, best of 30 each: the machine is shared, the minimum is the least disturbed.
  const best = [Infinity, Infinity];
  for (let i = 0; i < 35; i++) {
    for (const [k, s] of sessions.entries()) {
      const start = performance.now();
      await s.run(input);
      if (i >= 5) best[k] = Math.min(best[k]!, performance.now() - start);
    }
  }
  for (const s of sessions) await s.release();
  t.diagnostic(`784x300, batch 64, 1 thread: session creation dense ${created[0]!.toFixed(1)} ms, hashed ${created[1]!.toFixed(1)} ms; run dense ${best[0]!.toFixed(3)} ms, hashed ${best[1]!.toFixed(3)} ms`);
  // Unfolded, the hash over 235k positions costs about 10x a dense batch; folded, the same Gemm runs.
  assert.ok(best[1]! < 2 * best[0]! + 0.1, `hashed ${best[1]} ms, dense ${best[0]} ms per batch`);
});

test('bad options: one-line errors', () => {
  const model = buildArch('lenet-300-100', { seed: 1 });
  for (const ratio of [0, -0.5, 1.5, Number.NaN]) {
    assert.throws(() => hashWeights(model, { ratio }), (e: Error) => e instanceof HashError && /ratio .* must be in \(0, 1\]/.test(e.message) && !e.message.includes('\n'));
  }
  assert.throws(() => hashWeights(model, { ratio: 0.5, layers: [{ pattern: 'fc1*', ratio: 2 }] }), /--layer fc1\*: ratio 2/);
  assert.throws(() => hashWeights(model, { ratio: 0.5, layers: [{ pattern: 'conv*', ratio: 0.1 }] }), /layer pattern 'conv\*' matches no Gemm, MatMul or Conv weight \(weights: fc1.weight, fc2.weight, fc3.weight\)/);
  assert.throws(() => hashWeights(model, { ratio: 0.5, exclude: ['nope'] }), /exclude pattern 'nope' matches no/);
  assert.throws(() => hashWeights(model, { ratio: 0.5, exclude: ['*'] }), /every Gemm, MatMul and Conv weight is excluded/);
  assert.throws(() => hashWeights(model, { ratio: 0.5, seed: -1 }), /seed -1/);
  const noWeights = buildArch('lenet-300-100', { seed: 1 });
  for (const name of ['fc1.weight', 'fc2.weight', 'fc3.weight']) noWeights.graph.initializers.set(name, new Tensor(name, DataType.INT8, [1, 1], Int8Array.of(1)));
  assert.throws(() => hashWeights(noWeights, { ratio: 0.5 }), /no Gemm, MatMul or Conv weight stored as an initializer/);
});

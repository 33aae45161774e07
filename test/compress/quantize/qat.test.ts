// Quantization-aware training on MNIST subsets: 4-bit QAT against post-training round-to-nearest, the QDQ export
// against the fake-quantized forward it was trained as (onnxruntime-node and -web), LSQ scales, and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { DataLoader } from '../../../src/data/loader.js';
import { evaluateClassifier } from '../../../src/eval/classification.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { openDataset } from '../../../src/node/datasets.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { Runtime, SessionOptions } from '../../../src/runtime/session.js';
import { webRuntime } from '../../../src/runtime/web.js';
import { trainModel } from '../../../src/compress/prune/schedules.js';
import { QuantizationError, dequantizeArray, quantizeArray } from '../../../src/compress/quantize/arithmetic.js';
import { prepareQat, trainQat } from '../../../src/compress/quantize/qat.js';

const train = openDataset('mnist', 'train');
const testSet = openDataset('mnist', 'test');
const loader = new DataLoader(train, { batchSize: 64, limit: 6400, shuffle: true, seed: 1 });
const testLoader = new DataLoader(testSet, { batchSize: 500, limit: 2000 });
const accuracy = async (m: Model) => (await evaluateClassifier(nodeRuntime, m, testLoader, { threads: 1 })).accuracy;
const WEIGHTS = ['fc1.weight', 'fc2.weight', 'fc3.weight'];

/** lenet-300-100 trained in float for 200 steps (shared by the tests). */
const floatModel = (async () => {
  const r = await trainModel(buildArch('lenet-300-100', { seed: 1 }), {}, { runtime: nodeRuntime, loader, epochs: 2, lr: 0.05, threads: 1 });
  return r.model;
})();

/** Post-training round-to-nearest of the weights: per-channel symmetric, as QAT quantizes them. */
function roundToNearest(model: Model, bits: number): Model {
  const out = model.clone();
  const granularity = { kind: 'channel' as const, axis: 0 };
  for (const name of WEIGHTS) {
    const w = out.graph.initializers.get(name)!;
    const q = quantizeArray(w.toFloat32(), w.dims, { bits, signed: true, symmetric: true, granularity });
    out.graph.initializers.set(name, Tensor.fromFloat32(name, w.dims, dequantizeArray(q, w.dims, granularity)));
  }
  return out;
}

async function logits(runtime: Runtime, model: Model, input: Tensor, options: SessionOptions = {}): Promise<Float32Array> {
  const session = await runtime.createSession(model, { threads: 1, ...options });
  try {
    const name = session.inputs[0]!.name;
    return (await session.run({ [name]: input.renamed(name) }))[model.graph.outputs[0]!.name]!.toFloat32();
  } finally {
    await session.release();
  }
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/**
 * The exported model computes what the fake-quantized model computes, in onnxruntime-node and -web, with graph
 * optimizations (where onnxruntime fuses both into its int8 kernels) and without (each op as the spec defines it).
 * Each comparison runs both models the same way: the int8 kernels requantize with integer sums, which can round a
 * value lying within float error of a rounding boundary to the other level than a float evaluation does.
 */
async function assertExportMatches(exported: Model, fakeQuant: Model, input: Tensor) {
  for (const [label, runtime, options] of [
    ['node', nodeRuntime, {}], ['node, no graph optimizations', nodeRuntime, { graphOptimizationLevel: 'disabled' }],
    ['web', webRuntime, {}], ['web, no graph optimizations', webRuntime, { graphOptimizationLevel: 'disabled' }],
  ] as const) {
    const d = maxDifference(await logits(runtime, exported, input, options), await logits(runtime, fakeQuant, input, options));
    assert.ok(d <= 1e-4, `${label}: the export differs from the fake-quantized forward by ${d}`);
  }
}

const firstTestBatch = () => [...testLoader.batches(0)][0]!.inputs;

/** Integer codes of an exported weight (its DequantizeLinear input), with their scale. */
function exportedWeight(model: Model, weight: string) {
  const g = model.graph;
  const dq = g.nodes.find((n) => n.opType === 'DequantizeLinear' && n.name === `${weight}_DequantizeLinear`);
  assert.ok(dq, `${weight} is read through a DequantizeLinear`);
  const codes = g.initializers.get(dq.inputs[0]!)!;
  const scale = g.initializers.get(dq.inputs[1]!)!;
  return { codes, scale, axis: dq.int('axis', 1)! };
}

/** max |code| per output channel (axis 0). */
function channelMaxCodes(codes: Tensor): number[] {
  const [rows, cols] = codes.dims as [number, number];
  return Array.from({ length: rows }, (_, r) => {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(codes.at(r * cols + c)));
    return m;
  });
}

test('4-bit QAT beats 4-bit round-to-nearest of the same float model; the QDQ export is the trained fake-quantized forward', async () => {
  const float = await floatModel;
  const fineTune = { runtime: nodeRuntime, loader, epochs: 2, lr: 0.01, threads: 1 };
  const qat = await trainQat(float, { bits: 4 }, fineTune);
  const [floatAcc, rtnAcc, qatAcc] = [await accuracy(float), await accuracy(roundToNearest(float, 4)), await accuracy(qat.model)];
  // A peer for the extra 200 steps QAT trains: the same fine-tuning in float. QAT's 4-bit weights and 8-bit
  // activations should cost little against it.
  const tuned = await accuracy((await trainModel(float, {}, fineTune)).model);
  assert.ok(qatAcc > rtnAcc, `QAT ${qatAcc} vs round-to-nearest ${rtnAcc} (float ${floatAcc})`);
  assert.ok(qatAcc >= tuned - 0.015, `QAT ${qatAcc} vs float fine-tuning ${tuned}`);
  assert.ok(qatAcc > 0.85, `QAT accuracy ${qatAcc}`);

  // Layout: int4 weights per channel, int32 biases, uint8 activations with scalar parameters; no float weights left.
  const g = qat.model.graph;
  for (const name of WEIGHTS) {
    assert.ok(!g.initializers.has(name), `float ${name} is gone`);
    const { codes, scale, axis } = exportedWeight(qat.model, name);
    assert.equal(codes.dataType, DataType.INT4);
    assert.equal(axis, 0);
    assert.equal(scale.dims[0], codes.dims[0]);
    // Observed (max) scales put each channel's largest weight on the top level.
    assert.deepEqual(new Set(channelMaxCodes(codes)), new Set([7]));
    const bias = g.nodes.find((n) => n.name === `${name.replace('weight', 'bias')}_DequantizeLinear`)!;
    assert.equal(g.initializers.get(bias.inputs[0]!)!.dataType, DataType.INT32);
  }
  const activationQuantizers = g.nodes.filter((n) => n.opType === 'QuantizeLinear');
  assert.deepEqual(activationQuantizers.map((n) => n.name).sort(), ['flatten_QuantizeLinear', 'logits_QuantizeLinear', 'relu1_QuantizeLinear', 'relu2_QuantizeLinear']);
  for (const q of activationQuantizers) {
    assert.deepEqual([...g.initializers.get(q.inputs[1]!)!.dims], []);
    assert.equal(g.initializers.get(q.inputs[2]!)!.dataType, DataType.UINT8);
  }
  // After a Relu the zero point is 0 (what lets onnxruntime drop the Relu into the requantization).
  assert.equal(qat.report.activations.find((a) => a.value === 'relu1')!.zeroPoint, 0);
  assert.ok(qat.report.bytes.after * 6 < qat.report.bytes.before, `${JSON.stringify(qat.report.bytes)}`);
  assert.deepEqual(qat.report.layers.map((l) => [l.node, l.bits, l.biasInt32]), [['fc1', 4, true], ['fc2', 4, true], ['fc3', 4, true]]);

  await assertExportMatches(qat.model, qat.fakeQuant, firstTestBatch());
});

test('LSQ: trainable per-channel and per-tensor scales with gradient scale 1/sqrt(N qmax), exported as trained', async () => {
  const float = await floatModel;
  const prepared = await prepareQat(float, { bits: 4, lsq: true }, { runtime: nodeRuntime, loader, threads: 1 });
  // The hook multiplies a scale's gradient by g: read g from the graph it writes.
  const gradScale = (param: string) => {
    const b = new GraphBuilder();
    const out = prepared.hooks[param]![0]!.gradient!(b, param, 'grad');
    const mul = b.graph.nodes.find((n) => n.outputs[0] === out)!;
    return b.graph.initializers.get(mul.inputs[1]!)!.at(0);
  };
  const fc1 = prepared.layers.find((l) => l.weight === 'fc1.weight')!;
  assert.ok(fc1.scale, 'fc1 has a trainable scale');
  assert.ok(Math.abs(gradScale(fc1.scale) - 1 / Math.sqrt(784 * 7)) < 1e-9, 'weights: N = 784 per channel, qmax 7');
  const relu1 = prepared.activations.find((a) => a.value === 'relu1')!;
  assert.ok(Math.abs(gradScale(relu1.scale) - 1 / Math.sqrt(300 * 255)) < 1e-9, 'activations: N = 300 per sample, qmax 255');

  const short = new DataLoader(train, { batchSize: 64, limit: 3200, shuffle: true, seed: 4 });
  const qat = await trainQat(float, { bits: 8, lsq: true }, { runtime: nodeRuntime, loader: short, epochs: 1, lr: 0.01, threads: 1 });
  const start = prepared.model.graph.initializers;
  const trained = qat.fakeQuant.graph.initializers;
  const trainedScale = trained.get(fc1.scale)!.toFloat32();
  assert.ok(trainedScale.some((s, i) => s !== start.get(fc1.scale!)!.at(i)), 'the weight scales trained');
  assert.ok(trainedScale.every((s) => s > 0));
  assert.notEqual(trained.get(relu1.scale)!.at(0), start.get(relu1.scale)!.at(0), 'the activation scale trained');
  // Exported with the trained scales (not recomputed from the weights).
  assert.deepEqual([...exportedWeight(qat.model, 'fc1.weight').scale.toFloat32()], [...trainedScale]);
  assert.equal(qat.report.activations.find((a) => a.value === 'relu1')!.scale, trained.get(relu1.scale)!.at(0));
  assert.ok(await accuracy(qat.model) > 0.85);
  await assertExportMatches(qat.model, qat.fakeQuant, firstTestBatch());
});

test('8-bit QAT of a conv net (lenet-5): int8 weights, parameters shared through MaxPool and Flatten, export = fake-quantized forward', async () => {
  const small = new DataLoader(train, { batchSize: 32, limit: 256, shuffle: true, seed: 2 });
  const qat = await trainQat(buildArch('lenet-5', { seed: 3 }), { bits: 8, calibrationBatches: 2 }, { runtime: nodeRuntime, loader: small, epochs: 1, lr: 0.01, threads: 1 });
  const g = qat.model.graph;
  for (const name of ['conv1.weight', 'conv2.weight', 'fc1.weight', 'fc2.weight']) {
    const { codes } = exportedWeight(qat.model, name);
    assert.equal(codes.dataType, DataType.INT8);
    assert.deepEqual(new Set(channelMaxCodes(new Tensor('c', codes.dataType, [codes.dims[0]!, codes.size / codes.dims[0]!], codes.data))), new Set([127]));
  }
  // The model input (read by conv1) is quantized; pool outputs and the flattened value reuse conv outputs' parameters.
  const shared = qat.report.activations.filter((a) => a.sharedWith);
  assert.deepEqual(shared.map((a) => [a.value, a.sharedWith]).sort(), [['flatten', 'conv2'], ['pool1', 'conv1'], ['pool2', 'conv2']]);
  assert.ok(qat.report.activations.some((a) => a.value === 'input' && a.range?.min === 0 && a.range.max <= 1));
  const q = g.nodes.find((n) => n.name === 'pool1_QuantizeLinear')!;
  assert.equal(q.inputs[1], g.nodes.find((n) => n.name === 'conv1_QuantizeLinear')!.inputs[1], 'pool1 shares conv1\'s scale');
  const batch = new DataLoader(testSet, { batchSize: 16, limit: 16 });
  await assertExportMatches(qat.model, qat.fakeQuant, [...batch.batches(0)][0]!.inputs);
});

test('QAT of resnet-8 with LSQ: BatchNorm and Relu after convs, residual Adds between quantized values, export = fake-quantized forward', async () => {
  const tiny = new DataLoader(train, { batchSize: 16, limit: 32, shuffle: true, seed: 5 });
  const model = buildArch('resnet-8', { inputShape: [1, 28, 28], classes: 10, seed: 1 });
  const qat = await trainQat(model, { bits: 8, lsq: true, calibrationBatches: 2 }, { runtime: nodeRuntime, loader: tiny, epochs: 1, lr: 0.01, threads: 1 });
  const g = qat.model.graph;
  const producers = g.producers();
  // Every residual Add reads two dequantized values, and its Relu's output is quantized again (a QLinearAdd group).
  const adds = g.nodes.filter((n) => n.opType === 'Add');
  assert.ok(adds.length >= 3);
  for (const add of adds) {
    assert.deepEqual(add.inputs.map((i) => producers.get(i)?.opType), ['DequantizeLinear', 'DequantizeLinear'], add.label);
  }
  assert.equal(qat.report.layers.length, 10);
  assert.ok(qat.report.layers.every((l) => l.bits === 8));
  await assertExportMatches(qat.model, qat.fakeQuant, [...tiny.batches(0)][0]!.inputs);
});

test('bad input: unsupported bits, a model already quantized, non-finite weights, everything excluded', async () => {
  const model = buildArch('lenet-300-100', { seed: 1 });
  const calibration = { runtime: nodeRuntime, loader: new DataLoader(train, { batchSize: 8, limit: 8 }), threads: 1 };
  await assert.rejects(prepareQat(model, { bits: 3 }, calibration), (e: Error) => e instanceof QuantizationError && /8- or 4-bit/.test(e.message));
  const prepared = await prepareQat(model, {}, calibration);
  await assert.rejects(prepareQat(prepared.model, {}, calibration), (e: Error) => e instanceof QuantizationError && /already quantized/.test(e.message));
  const broken = model.clone();
  const w = broken.graph.initializers.get('fc2.weight')!.toFloat32().slice();
  w[5] = NaN;
  broken.graph.initializers.set('fc2.weight', Tensor.fromFloat32('fc2.weight', [100, 300], w));
  await assert.rejects(prepareQat(broken, {}, calibration), (e: Error) => e instanceof QuantizationError && /fc2\.weight.*non-finite/.test(e.message));
  await assert.rejects(prepareQat(model, { exclude: ['fc*'] }, calibration), (e: Error) => e instanceof QuantizationError && /excluded: fc1, fc2, fc3/.test(e.message));
  // Excluding one layer keeps it in float.
  const partial = await prepareQat(model, { exclude: ['fc3'] }, calibration);
  assert.deepEqual(partial.layers.map((l) => l.weight), ['fc1.weight', 'fc2.weight']);
  assert.deepEqual(partial.excluded, ['fc3']);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, modelOf } from '../../../src/core/builder.js';
import { decodeModel, encodeModel } from '../../../src/core/codec.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { validateModel } from '../../../src/core/validate.js';
import {
  affineParams, dequantizeArray, dequantizeValue, integerRange, quantizeArray, quantizeValue, roundHalfEven,
} from '../../../src/compress/quantize/arithmetic.js';
import { quantizeStatic } from '../../../src/compress/quantize/static.js';
import { trainModel } from '../../../src/compress/prune/schedules.js';
import { DataLoader } from '../../../src/data/loader.js';
import { evaluateClassifier } from '../../../src/eval/classification.js';
import { loaderFeeds } from '../../../src/eval/fidelity.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { openDataset } from '../../../src/node/datasets.js';
import { randomInputs, seededRandom } from '../../../src/runtime/inputs.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { webRuntime } from '../../../src/runtime/web.js';
import { Runtime, SessionOptions } from '../../../src/runtime/session.js';

async function run(model: Model, feeds: Record<string, Tensor>, options: SessionOptions = {}, runtime: Runtime = nodeRuntime): Promise<Float32Array> {
  const session = await runtime.createSession(model, { threads: 1, ...options });
  try {
    const out = await session.run(feeds);
    return out[model.graph.outputs[0]!.name]!.toFloat32();
  } finally {
    await session.release();
  }
}

/** Op types of the graph onnxruntime-node runs after its optimizations (QDQ fusion included), with counts. */
async function optimizedOps(model: Model): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'nnzip-static-'));
  try {
    const file = join(dir, 'optimized.onnx');
    const session = await ort.InferenceSession.create(encodeModel(model).bytes, { optimizedModelFilePath: file, graphOptimizationLevel: 'all', intraOpNumThreads: 1, logSeverityLevel: 3 });
    await session.release();
    const counts: Record<string, number> = {};
    for (const n of decodeModel(readFileSync(file)).graph.nodes) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
    return counts;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const count = (m: Model, op: string) => m.graph.nodes.filter((n) => n.opType === op).length;
const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const meanAbs = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;

function randomBatchNorms(model: Model, seed: number): Model {
  const out = model.clone();
  const rand = seededRandom(seed);
  for (const n of out.graph.nodes.filter((x) => x.opType === 'BatchNormalization')) {
    n.inputs.slice(1, 5).forEach((name, i) => {
      const t = out.graph.initializers.get(name)!;
      const [lo, hi] = [[0.5, 1.5], [-0.3, 0.3], [-0.3, 0.3], [0.3, 2]][i]!;
      out.graph.initializers.set(name, Tensor.fromFloat32(name, t.dims, Float32Array.from({ length: t.size }, () => lo! + (hi! - lo!) * rand())));
    });
  }
  return out;
}

test('a small MLP: the QDQ graph computes exactly the quantization simulated by hand, and the fused int8 kernels agree', async () => {
  const rand = seededRandom(3);
  const r = (n: number, s = 1) => Float32Array.from({ length: n }, () => s * (2 * rand() - 1));
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['n', 8]);
  const [w1, b1, w2, b2] = [r(48), r(6, 0.5), r(18), r(3, 0.5)];
  const h = b.op('Gemm', [x, b.floats('w1', [6, 8], w1), b.floats('b1', [6], b1)], { transB: 1 }, { name: 'fc1' });
  const relu = b.op('Relu', [h], {}, { name: 'relu' });
  b.op('Gemm', [relu, b.floats('w2', [3, 6], w2), b.floats('b2', [3], b2)], { transB: 1 }, { name: 'fc2', output: 'y' });
  b.output('y', DataType.FLOAT);
  const model = modelOf(b.graph);
  const calibration = Tensor.fromFloat32('x', [32, 8], r(256, 2));
  const { model: q, report } = await quantizeStatic(model, [{ x: calibration }], { runtime: nodeRuntime });
  validateModel(q);

  // Structure: Q on the input and after the Relu (not between Gemm and Relu); the logits stay float.
  assert.equal(count(q, 'QuantizeLinear'), 2);
  assert.equal(count(q, 'DequantizeLinear'), 6, 'x, relu output, 2 weights, 2 biases');
  const relu2q = q.graph.nodes.find((n) => n.opType === 'QuantizeLinear' && q.graph.producers().get(n.inputs[0]!)?.opType === 'Relu');
  assert.ok(relu2q, 'the Relu output is quantized');
  assert.equal(q.graph.producers().get('y')!.opType, 'Gemm');
  assert.deepEqual(report.quantized.map((n) => `${n.node}:${n.role}`).sort(), ['fc1:weighted', 'fc2:weighted', 'relu:activation']);

  // The simulation by hand: calibrated minmax ranges, per-channel symmetric int8 weights, int32 biases at sx*sw.
  const u8 = { bits: 8, signed: false };
  const { qmin, qmax } = integerRange(u8);
  const fq = (v: number, p: { scale: number; zeroPoint: number }) => dequantizeValue(quantizeValue(v, p.scale, p.zeroPoint, qmin, qmax), p.scale, p.zeroPoint);
  const cal = calibration.toFloat32();
  const xParams = affineParams(Math.min(...cal), Math.max(...cal), u8);
  const layer = (input: Float32Array, n: number, weights: Float32Array, bias: Float32Array, inputScale: number, out: number, k: number) => {
    const wq = quantizeArray(weights, [out, k], { bits: 8, signed: true, symmetric: true, granularity: { kind: 'channel', axis: 0 } });
    const wd = dequantizeArray(wq, [out, k], { kind: 'channel', axis: 0 });
    const y = new Float32Array(n * out);
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < out; o++) {
        const biasScale = Math.fround(inputScale * wq.scales[o]!);
        let s = Math.fround(roundHalfEven(bias[o]! / biasScale) * biasScale);
        for (let j = 0; j < k; j++) s = Math.fround(s + Math.fround(input[i * k + j]! * wd[o * k + j]!));
        y[i * out + o] = s;
      }
    }
    return y;
  };
  const simulate = (input: Float32Array, n: number, hParams: { scale: number; zeroPoint: number }) => {
    const xq = input.map((v) => fq(v, xParams));
    const hidden = layer(xq, n, w1, b1, xParams.scale, 6, 8).map((v) => fq(Math.max(0, v), hParams));
    return layer(hidden, n, w2, b2, hParams.scale, 3, 6);
  };
  // The Relu output's range is the calibration data's, computed here in float.
  const floatHidden = new Float32Array(32 * 6);
  for (let i = 0; i < 32; i++) for (let o = 0; o < 6; o++) {
    let s = b1[o]!;
    for (let j = 0; j < 8; j++) s += cal[i * 8 + j]! * w1[o * 8 + j]!;
    floatHidden[i * 6 + o] = Math.max(0, s);
  }
  const reluRange = report.activations.find((a) => a.tensor === relu)!;
  assert.equal(reluRange.range[0], 0);
  assert.ok(Math.abs(reluRange.range[1] - Math.max(...floatHidden)) < 1e-5 * Math.max(...floatHidden));
  assert.equal(reluRange.zeroPoint, 0, 'zero point at the integer minimum, so onnxruntime drops the Relu');
  assert.deepEqual(report.activations.find((a) => a.tensor === 'x')!.scale, xParams.scale);

  const feeds = { x: Tensor.fromFloat32('x', [16, 8], r(128, 2.5)) };
  const expected = simulate(feeds.x.toFloat32(), 16, reluRange);
  const unfused = await run(q, feeds, { graphOptimizationLevel: 'disabled' });
  const fused = await run(q, feeds);
  // Only float summation order differs from the hand simulation.
  assert.ok(maxAbs(unfused, expected) < 1e-5, `QDQ graph vs hand simulation: ${maxAbs(unfused, expected)}`);
  // QGemm with float output: integer products, summed exactly, then scaled once: float rounding only.
  assert.ok(maxAbs(fused, expected) < 1e-5, `fused int8 vs hand simulation: ${maxAbs(fused, expected)}`);
  assert.deepEqual(await optimizedOps(q), { QuantizeLinear: 1, QGemm: 2 });
});

test('resnet-8 (BatchNorm statistics, residual adds): every Conv and Add runs as an int8 kernel; fused outputs match the float simulation', async () => {
  const model = randomBatchNorms(buildArch('resnet-8', { inputShape: [1, 28, 28], seed: 2 }), 3);
  const calibration = [0, 1, 2].map((seed) => randomInputs(model, { batch: 16, seed }));
  const { model: q, report } = await quantizeStatic(model, calibration, { runtime: nodeRuntime });
  assert.equal(report.foldedBatchNorms.length, count(model, 'BatchNormalization'));
  assert.equal(count(q, 'BatchNormalization'), 0);
  assert.deepEqual(report.float, []);
  // No Q/DQ pair between a Conv and its Relu, or between an Add and its Relu.
  const producers = q.graph.producers();
  for (const relu of q.graph.nodes.filter((n) => n.opType === 'Relu')) {
    assert.ok(['Conv', 'Add'].includes(producers.get(relu.inputs[0]!)!.opType), `${relu.label} follows ${producers.get(relu.inputs[0]!)!.opType}`);
  }
  const ops = await optimizedOps(q);
  assert.equal(ops.QLinearConv, count(model, 'Conv'));
  assert.equal(ops.QLinearAdd, count(model, 'Add'));
  assert.equal(ops.QLinearGlobalAveragePool, 1);
  assert.equal(ops.QGemm, 1);
  for (const op of ['Conv', 'Relu', 'Add', 'DequantizeLinear', 'GlobalAveragePool', 'Gemm']) assert.equal(ops[op], undefined, `${op} left in float: ${JSON.stringify(ops)}`);
  assert.equal(ops.QuantizeLinear, 1, 'one Q on the model input; everything after stays in integers');

  // The unfused QDQ graph (onnxruntime with optimizations off evaluates Q and DQ as written) is the float simulation.
  // The fused kernels compute the same integer products (exact) and requantize each output once with a float
  // multiplier: an activation lying within float error of a rounding midpoint may land one step the other way, and
  // such rare one-step flips propagate through later layers. So their difference must be far below the quantization
  // error itself (simulation vs float model).
  const feeds = randomInputs(model, { batch: 16, seed: 9 });
  const float = await run(model, feeds);
  const simulated = await run(q, feeds, { graphOptimizationLevel: 'disabled' });
  const fused = await run(q, feeds);
  const quantizationError = meanAbs(simulated, float);
  assert.ok(quantizationError > 1e-4, 'quantization changes the outputs');
  assert.ok(meanAbs(fused, simulated) < 0.1 * quantizationError, `fused vs simulated ${meanAbs(fused, simulated)}, quantization error ${quantizationError}`);
  assert.ok(maxAbs(fused, simulated) < 0.5 * maxAbs(simulated, float), `largest: fused vs simulated ${maxAbs(fused, simulated)}, quantization ${maxAbs(simulated, float)}`);
});

test('one Conv + Relu with a quantized graph output: the fused kernel is within one output step of the simulation', async () => {
  const rand = seededRandom(5);
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['n', 4, 9, 9]);
  const conv = b.op('Conv', [x, b.floats('w', [8, 4, 3, 3], Float32Array.from({ length: 288 }, () => rand() - 0.5)), b.floats('bias', [8], Float32Array.from({ length: 8 }, () => rand() - 0.5))], { pads: [1, 1, 1, 1] }, { name: 'conv' });
  const relu = b.op('Relu', [conv], {}, { name: 'relu' });
  b.output(b.op('MaxPool', [relu], { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool', output: 'y' }), DataType.FLOAT);
  // The MaxPool's output is the graph output: float; the Relu output is the Conv's (required) quantized output.
  const model = modelOf(b.graph, { '': 13 });
  const feed = () => ({ x: new Tensor('x', DataType.FLOAT, [8, 4, 9, 9], Float32Array.from({ length: 2592 }, () => 2 * rand() - 1)) });
  const { model: q, report } = await quantizeStatic(model, [feed(), feed()], { runtime: nodeRuntime });
  const step = report.activations.find((a) => a.tensor === relu)!.scale;
  const feeds = feed();
  const [simulated, fused] = [await run(q, feeds, { graphOptimizationLevel: 'disabled' }), await run(q, feeds)];
  // Integer accumulation is exact in both; only the one requantization rounding can differ: at most one step.
  assert.ok(maxAbs(fused, simulated) <= step * 1.0001, `${maxAbs(fused, simulated)} vs step ${step}`);
  const ops = await optimizedOps(q);
  assert.equal(ops.QLinearConv, 1);
  assert.equal(ops.Conv, undefined);
  assert.equal(ops.Relu, undefined, 'the Relu is folded into the requantization');
});

test('AveragePool, Concat, MaxPool, Transpose and Reshape between convs: onnxruntime keeps the whole graph in integers', async () => {
  const rand = seededRandom(8);
  const r = (n: number) => Float32Array.from({ length: n }, () => rand() - 0.5);
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['n', 3, 8, 8]);
  const c = b.op('Relu', [b.op('Conv', [x, b.floats('w', [8, 3, 3, 3], r(216)), b.floats('bw', [8], r(8))], { pads: [1, 1, 1, 1] }, { name: 'conv' })], {}, { name: 'relu' });
  const avg = b.op('AveragePool', [c], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] }, { name: 'avg' });
  const side = b.op('Conv', [c, b.floats('w2', [4, 8, 1, 1], r(32))], {}, { name: 'conv2' });
  const cat = b.op('Concat', [avg, side], { axis: 1 }, { name: 'concat' });
  const pool = b.op('MaxPool', [cat], { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool' });
  const nhwc = b.op('Transpose', [pool], { perm: [0, 2, 3, 1] }, { name: 'transpose' });
  const flat = b.op('Reshape', [nhwc, b.int64s('shape', [-1, 192])], {}, { name: 'reshape' });
  b.op('Gemm', [flat, b.floats('fw', [10, 192], r(1920)), b.floats('fb', [10], r(10))], { transB: 1 }, { name: 'fc', output: 'y' });
  b.output('y', DataType.FLOAT);
  const model = modelOf(b.graph);
  const { model: q, report } = await quantizeStatic(model, [randomInputs(model, { batch: 8, seed: 1 })], { runtime: nodeRuntime });
  assert.deepEqual(report.float, []);
  // Pass-through ops reuse their input's parameters, so onnxruntime can drop their Q/DQ and run them on integers.
  const shared = Object.fromEntries(report.activations.filter((a) => a.sharedWith).map((a) => [a.tensor, a.sharedWith]));
  assert.deepEqual(shared, { [pool]: cat, [nhwc]: cat, [flat]: cat });
  const ops = await optimizedOps(q);
  assert.equal(ops.QLinearConv, 2);
  assert.equal(ops.QLinearAveragePool, 1);
  assert.equal(ops.QLinearConcat, 1);
  assert.equal(ops.QGemm, 1);
  assert.equal(ops.QuantizeLinear, 1);
  assert.equal(ops.DequantizeLinear, undefined, `something runs in float: ${JSON.stringify(ops)}`);
  const feeds = randomInputs(model, { batch: 4, seed: 2 });
  const [float, simulated, fused] = [await run(model, feeds), await run(q, feeds, { graphOptimizationLevel: 'disabled' }), await run(q, feeds)];
  const size = meanAbs(float, new Float32Array(float.length));
  assert.ok(meanAbs(fused, float) < 0.1 * size, `error ${meanAbs(fused, float)} on outputs of mean size ${size}`);
  assert.ok(meanAbs(fused, simulated) < 0.1 * meanAbs(simulated, float), `fused vs simulated ${meanAbs(fused, simulated)}`);
});

test('lenet-5 short-trained on MNIST keeps its accuracy within 1 point after static int8 (256 calibration samples); runs in onnxruntime-web', async () => {
  const train = openDataset('mnist', 'train');
  const trained = (await trainModel(buildArch('lenet-5', { seed: 1 }), {}, {
    runtime: nodeRuntime, loader: new DataLoader(train, { batchSize: 64, limit: 4000, shuffle: true, seed: 1 }), epochs: 1, lr: 0.01, threads: 2,
  })).model;
  const testLoader = new DataLoader(openDataset('mnist', 'test'), { batchSize: 250, limit: 2000 });
  const calibration = new DataLoader(train, { batchSize: 64, limit: 256, randomSubset: true, seed: 7 });
  const { model: q, report } = await quantizeStatic(trained, loaderFeeds(trained, calibration), { runtime: nodeRuntime });
  assert.equal(report.calibration.samples, 256);
  const before = await evaluateClassifier(nodeRuntime, trained, testLoader, { threads: 2 });
  const after = await evaluateClassifier(nodeRuntime, q, testLoader, { threads: 2 });
  assert.ok(before.accuracy > 0.85, `trained to ${before.accuracy}`);
  assert.ok(Math.abs(after.accuracy - before.accuracy) <= 0.01, `accuracy ${before.accuracy} -> ${after.accuracy}`);
  assert.ok(report.weightBytesAfter < report.weightBytesBefore / 3.5, `${report.weightBytesBefore} -> ${report.weightBytesAfter} bytes`);
  const ops = await optimizedOps(q);
  assert.deepEqual([ops.QLinearConv, ops.QGemm, ops.Conv, ops.Gemm], [2, 2, undefined, undefined]);

  // onnxruntime-web (wasm) runs the same file: same predictions.
  const batch = testLoader.batches(0).next().value!;
  const feeds = { input: batch.inputs.renamed('input') };
  const [web, node] = [await run(q, feeds, {}, webRuntime), await run(q, feeds)];
  const argmax = (a: Float32Array, i: number) => { const row = a.subarray(i * 10, i * 10 + 10); return row.indexOf(Math.max(...row)); };
  let agree = 0;
  for (let i = 0; i < 250; i++) if (argmax(web, i) === argmax(node, i)) agree++;
  assert.ok(agree >= 248, `web and node agree on ${agree}/250`);
  assert.ok(meanAbs(web, node) < 0.05, `mean |web - node| ${meanAbs(web, node)}`);
});

test('excluded nodes stay float; options: per-tensor, reduced range, int8 and symmetric activations', async () => {
  const model = buildArch('resnet-8', { inputShape: [1, 12, 12], seed: 4 });
  const calibration = [randomInputs(model, { batch: 8, seed: 1 })];
  const { model: q, report } = await quantizeStatic(model, calibration, { runtime: nodeRuntime, exclude: ['layer1.0.conv*', 'fc'] });
  for (const name of ['layer1.0.conv1', 'layer1.0.conv2', 'fc']) {
    const node = q.graph.nodes.find((n) => n.name === name)!;
    const weight = q.graph.initializers.get(node.inputs[1]!);
    assert.ok(weight && weight.dataType === DataType.FLOAT, `${name} reads float weights`);
    assert.ok(report.float.some((f) => f.node === name && /excluded by/.test(f.reason)));
  }
  const ops = await optimizedOps(q);
  assert.equal(ops.Conv, 2, 'the two excluded convs run in float');
  assert.equal(ops.QLinearConv, count(model, 'Conv') - 2);
  assert.equal(ops.Gemm ?? 0, 1, 'the excluded fc runs in float');

  const quantizedWeight = (m: Model, node: string) => {
    const dq = m.graph.producers().get(m.graph.nodes.find((n) => n.name === node)!.inputs[1]!)!;
    return { values: m.graph.initializers.get(dq.inputs[0]!)!, scale: m.graph.initializers.get(dq.inputs[1]!)!, axis: dq.int('axis', 1) };
  };
  const perTensor = (await quantizeStatic(model, calibration, { runtime: nodeRuntime, perChannel: false, reduceRange: true })).model;
  const w = quantizedWeight(perTensor, 'layer2.0.conv1');
  assert.deepEqual(w.scale.dims, []);
  const values = w.values.toNumbers();
  assert.equal(Math.max(...values.map(Math.abs)), 63, '7-bit weights');
  const perChannel = quantizedWeight((await quantizeStatic(model, calibration, { runtime: nodeRuntime })).model, 'layer2.0.conv1');
  assert.deepEqual([perChannel.scale.dims, perChannel.axis, Math.max(...perChannel.values.toNumbers().map(Math.abs))], [[32], 0, 127]);

  const int8 = await quantizeStatic(model, calibration, { runtime: nodeRuntime, activations: 'int8' });
  const zeroPoints = int8.model.graph.nodes.filter((n) => n.opType === 'QuantizeLinear').map((n) => int8.model.graph.initializers.get(n.inputs[2]!)!);
  assert.ok(zeroPoints.every((z) => z.dataType === DataType.INT8));
  // After a Relu the range starts at 0: zero point -128, the int8 minimum.
  assert.ok(int8.report.activations.filter((a) => a.range[0] === 0).every((a) => a.zeroPoint === -128));
  const symmetric = await quantizeStatic(model, calibration, { runtime: nodeRuntime, activations: 'int8', symmetricActivations: true });
  assert.ok(symmetric.report.activations.every((a) => a.zeroPoint === 0));
  assert.ok(symmetric.report.float.some((f) => f.op === 'Relu'), 'with symmetric activations a Relu cannot be folded: it stays a float op');
  // All variants compute nearly what the float model does.
  const feeds = randomInputs(model, { batch: 4, seed: 2 });
  const float = await run(model, feeds);
  for (const variant of [q, perTensor, int8.model, symmetric.model]) {
    const y = await run(variant, feeds);
    assert.ok(meanAbs(y, float) < 0.05 * meanAbs(float, new Float32Array(float.length)), `error ${meanAbs(y, float)}`);
  }
});

test('equalization and bias correction are wired in: pairs equalized, biases corrected, outputs still close to float', async () => {
  const model = randomBatchNorms(buildArch('resnet-8', { inputShape: [1, 12, 12], seed: 6 }), 8);
  const calibration = [randomInputs(model, { batch: 16, seed: 1 }), randomInputs(model, { batch: 16, seed: 2 })];
  const { model: q, report } = await quantizeStatic(model, calibration, { runtime: nodeRuntime, equalize: true, biasCorrection: true, perChannel: false });
  // conv1 -> relu -> conv2 inside each block; stem and block outputs feed residual adds, which equalization skips.
  assert.deepEqual(report.equalizedPairs.map((p) => `${p.first}>${p.second}`), ['layer1.0.conv1>layer1.0.conv2', 'layer2.0.conv1>layer2.0.conv2', 'layer3.0.conv1>layer3.0.conv2']);
  assert.equal(report.biasCorrected.length, count(model, 'Conv') + count(model, 'Gemm'));
  const feeds = randomInputs(model, { batch: 8, seed: 3 });
  const float = await run(model, feeds);
  const plain = (await quantizeStatic(model, calibration, { runtime: nodeRuntime, perChannel: false })).model;
  const [withBoth, without] = [meanAbs(await run(q, feeds), float), meanAbs(await run(plain, feeds), float)];
  assert.ok(withBoth < without, `per-tensor weights: error ${without} without, ${withBoth} with equalization and bias correction`);
});

test('bad input: wrong calibration shape, a model quantized already, unknown options: one-line errors', async () => {
  const model = buildArch('lenet-5', { seed: 1 });
  const wrong = [{ input: Tensor.zeros('input', DataType.FLOAT, [4, 1, 32, 32]) }];
  await assert.rejects(quantizeStatic(model, wrong, { runtime: nodeRuntime }),
    (e: Error) => e.name === 'QuantizationError' && e.message === "calibration input 'input' has shape [4,1,32,32], the model expects [batch,1,28,28]");
  const good = [randomInputs(model, { batch: 2 })];
  const { model: q } = await quantizeStatic(model, good, { runtime: nodeRuntime });
  await assert.rejects(quantizeStatic(q, good, { runtime: nodeRuntime }), /model is already quantized: node '.*' \((QuantizeLinear|DequantizeLinear)\)/);
  await assert.rejects(quantizeStatic(model, good, { runtime: nodeRuntime, calibMethod: 'kl' as never }), /calibration method 'kl' is unknown: use minmax, percentile, entropy, mse/);
  await assert.rejects(quantizeStatic(model, good, { runtime: nodeRuntime, activations: 'int4' as never }), /activation type 'int4' is not supported/);
  await assert.rejects(quantizeStatic(model, good, { runtime: nodeRuntime, ops: ['LSTM'] }), /static quantization does not handle op 'LSTM'/);
  await assert.rejects(quantizeStatic(model, good, { runtime: nodeRuntime, exclude: ['nothing*'] }), /exclude pattern 'nothing\*' matches no node/);
  const nan = model.clone();
  const w = nan.graph.initializers.get('conv1.weight')!;
  nan.graph.initializers.set('conv1.weight', Tensor.fromFloat32('conv1.weight', w.dims, w.toFloat32().map((v, i) => (i === 3 ? NaN : v))));
  await assert.rejects(quantizeStatic(nan, good, { runtime: nodeRuntime }), /weight 'conv1.weight' holds NaN at index 3/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/core/builder.js';
import { DataType, numberToFloat16Bits } from '../../src/core/dtype.js';
import { Model } from '../../src/core/ir.js';
import { Tensor } from '../../src/core/tensor.js';
import { clusterWeights } from '../../src/compress/share/cluster.js';
import { quantizeDynamic } from '../../src/compress/quantize/dynamic.js';
import { quantizeWeights } from '../../src/compress/quantize/weight-only.js';
import { seededRandom } from '../../src/runtime/inputs.js';
import { nodeRuntime } from '../../src/runtime/node.js';
import { histogramOf, layerFigures, layerSummaries, layerWeights, weightHistogram } from '../../src/report/layers.js';

function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  const random = seededRandom(seed);
  return Float32Array.from({ length: n }, () => Math.fround((random() * 2 - 1) * scale));
}

/** Runs the model in onnxruntime (no graph optimizations) with `values` added as outputs; returns them as float32. */
async function ortValues(model: Model, values: string[], feeds: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const m = model.clone();
  for (const v of values) if (!m.graph.outputs.some((o) => o.name === v)) m.graph.outputs.push({ name: v });
  const session = await nodeRuntime.createSession(m, { threads: 1, graphOptimizationLevel: 'disabled' });
  try {
    const out = await session.run(feeds, values);
    return Object.fromEntries(values.map((v) => [v, out[v]!.toFloat32()]));
  } finally {
    await session.release();
  }
}

/** Gemm (transB) and Conv with float weights, for the quantizers to work on. */
function gemmConvModel(seed: number): Model {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [1, 2, 6, 6]);
  const w = b.floats('conv.weight', [4, 2, 3, 3], randomFloats(72, seed, 0.5));
  const c = b.op('Conv', [x, w, b.floats('conv.bias', [4], [0.1, 0.2, 0.3, 0.4])], {}, { name: 'conv' });
  const f = b.op('Flatten', [c], { axis: 1 }, { name: 'flatten' });
  const g = b.floats('fc.weight', [8, 64], randomFloats(512, seed + 1, 0.3));
  b.op('Gemm', [f, g, b.floats('fc.bias', [8], new Float32Array(8).fill(0.5))], { transB: 1 }, { name: 'fc', output: 'y' });
  b.output('y', DataType.FLOAT, [1, 8]);
  return modelOf(b.graph, { '': 21 });
}

const gemmConvFeeds = () => ({ x: Tensor.fromFloat32('x', [1, 2, 6, 6], randomFloats(72, 99)) });

test('a float Gemm with known zeros: counts, sparsity, 32 storage bits, distinct values; the bias is no layer', () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['n', 4]);
  // transB: [N=3, K=4]; five zeros, one of them -0.
  const weight = [-1, 0, 0.5, 1, 0, 2, -0, 0.25, 1, 0, -0.5, 0];
  const w = b.floats('fc.weight', [3, 4], weight);
  b.op('Gemm', [x, w, b.floats('fc.bias', [3], [100, 200, 300])], { transB: 1 }, { name: 'fc', output: 'y' });
  b.output('y');
  const model = modelOf(b.graph);
  const [layer, ...rest] = layerSummaries(model);
  assert.equal(rest.length, 0);
  assert.deepEqual(layer, {
    weight: 'fc.weight', node: 'fc', opType: 'Gemm', params: 12, nonzeros: 7, sparsity: 1 - 7 / 12, storageBits: 32,
    // 0, -1, 0.5, 1, 2, 0.25, -0.5
    distinctValues: 7, effectiveBits: 3,
  });
  // Non-zeros -1, -0.5, 0.25, 0.5, 1, 1, 2 over 4 bins of width 0.75 from -1: [-1,-0.25) [-0.25,0.5) [0.5,1.25) [1.25,2].
  const h = weightHistogram(model, 4);
  assert.deepEqual(h.counts, [2, 1, 3, 1]);
  assert.equal(h.zeros, 5);
  assert.deepEqual(h.edges, [-1, -0.25, 0.5, 1.25, 2]);
  assert.deepEqual(layerFigures(model, 4), { layers: [layer], histogram: h });
});

test('float16 weights store 16 bits; a weight in a Constant node is found too', () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT16, ['n', 2]);
  const half = b.initializer(new Tensor('w16', DataType.FLOAT16, [2, 2], Uint16Array.from([1, 0, -2, 0.5], numberToFloat16Bits)));
  const h = b.op('MatMul', [x, half], {}, { name: 'mm16' });
  const cast = b.op('Cast', [h], { to: DataType.FLOAT }, { name: 'cast' });
  const [constant] = b.node('Constant', [], { value: Tensor.fromFloat32('k', [2, 3], [0, 0, 1, 2, 3, 4]) }, { name: 'k', outputs: ['k'] });
  b.op('MatMul', [cast, constant!], {}, { name: 'mm32', output: 'y' });
  b.output('y');
  const layers = layerSummaries(modelOf(b.graph));
  assert.deepEqual(layers.map((l) => [l.weight, l.node, l.storageBits, l.params, l.nonzeros, l.distinctValues]), [
    ['w16', 'mm16', 16, 4, 3, 4],
    ['k', 'mm32', 32, 6, 4, 5],
  ]);
});

test('an int8 DequantizeLinear weight per channel: the values onnxruntime dequantizes, 8 storage bits', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, 4]);
  // [K=4, N=3], per-column (axis 1) scales and zero points.
  const q = [-128, 5, 0, 3, 127, -7, 0, 0, 9, 3, -1, 100];
  const wq = b.initializer(new Tensor('w_quantized', DataType.INT8, [4, 3], Int8Array.from(q)));
  const scale = b.floats('w_scale', [3], [0.5, 0.03125, 0.1]);
  const zero = b.initializer(new Tensor('w_zero_point', DataType.INT8, [3], Int8Array.from([3, 0, -1])));
  const w = b.op('DequantizeLinear', [wq, scale, zero], { axis: 1 }, { name: 'dq', output: 'w_dequantized' });
  b.op('MatMul', [x, w], {}, { name: 'mm', output: 'y' });
  b.output('y');
  const model = modelOf(b.graph, { '': 13 });
  const [weight] = layerWeights(model);
  assert.ok(weight);
  const expected = (await ortValues(model, ['w_dequantized'], { x: Tensor.fromFloat32('x', [2, 4], randomFloats(8, 1)) }))['w_dequantized']!;
  assert.deepEqual(Array.from(weight.values), Array.from(expected));
  // Zeros where q equals its column's zero point.
  const zeros = q.filter((v, i) => v === [3, 0, -1][i % 3]).length;
  assert.equal(weight.value, 'w_dequantized');
  assert.deepEqual(weight.summary, {
    weight: 'w_quantized', node: 'mm', opType: 'MatMul', params: 12, nonzeros: 12 - zeros, sparsity: zeros / 12,
    storageBits: 8, distinctValues: new Set(expected).size, effectiveBits: Math.ceil(Math.log2(new Set(expected).size)),
  });
});

test('weight-only quantized layers (QDQ per channel, int4 blocks, float16 scales, power-of-two levels) read as onnxruntime dequantizes them', async () => {
  const source = gemmConvModel(3);
  const cases: [string, Parameters<typeof quantizeWeights>[1], number][] = [
    ['int8 per channel', { bits: 8 }, 8],
    ['uint8 per tensor, asymmetric', { bits: 8, symmetric: false, granularity: 'tensor' }, 8],
    ['int4 blocks of 16', { bits: 4, granularity: { block: 16 } }, 4],
    ['float16 scales', { bits: 8, scaleType: 'float16' }, 8],
    ['log2 levels (4-bit codes, a codebook, per-channel scales)', { bits: 4, levels: 'log2' }, 4],
  ];
  for (const [label, options, storageBits] of cases) {
    const { model } = await quantizeWeights(source, { minElements: 1, ...options });
    const weights = layerWeights(model);
    assert.deepEqual(weights.map((w) => w.summary.node), ['conv', 'fc'], label);
    const expected = await ortValues(model, weights.map((w) => w.value), gemmConvFeeds());
    for (const w of weights) {
      assert.deepEqual(Array.from(w.values), Array.from(expected[w.value]!), `${label}: ${w.summary.node}`);
      assert.equal(w.summary.storageBits, storageBits, `${label}: ${w.summary.node}`);
      assert.ok(model.graph.initializers.has(w.summary.weight), `${label}: the stored tensor is an initializer`);
      assert.equal(w.summary.distinctValues, new Set(expected[w.value]!).size, `${label}: ${w.summary.node}`);
    }
  }
});

test('MatMulNBits: storage bits from its bits attribute, values as onnxruntime multiplies by', async () => {
  const K = 64, N = 5;
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['n', K]);
  b.op('MatMul', [x, b.floats('w', [K, N], randomFloats(K * N, 11, 0.2))], {}, { name: 'proj', output: 'y' });
  b.output('y');
  const { model } = await quantizeWeights(modelOf(b.graph), { bits: 4, format: 'nbits', granularity: { block: 32 }, symmetric: false });
  assert.ok(model.graph.nodes.some((n) => n.opType === 'MatMulNBits'));
  const [weight, ...rest] = layerWeights(model);
  assert.ok(weight);
  assert.equal(rest.length, 0);
  // x = the identity: y is the dequantized weight itself.
  const identity = new Float32Array(K * K);
  for (let i = 0; i < K; i++) identity[i * K + i] = 1;
  const y = (await ortValues(model, ['y'], { x: Tensor.fromFloat32('x', [K, K], identity) }))['y']!;
  assert.deepEqual(Array.from(weight.values), Array.from(y));
  assert.equal(weight.summary.opType, 'MatMulNBits');
  assert.equal(weight.summary.node, 'proj');
  assert.equal(weight.summary.storageBits, 4);
  assert.equal(weight.summary.params, K * N);
  assert.equal(model.graph.initializers.get(weight.summary.weight)?.dataType, DataType.UINT8);
  // Each of the 10 blocks holds at most 16 levels.
  assert.ok(weight.summary.distinctValues > 16 && weight.summary.distinctValues <= 160);
});

test('a clustered layer with 4 distinct values needs 2 effective bits, in the gather form (uint8 indices) and the dense form', async () => {
  const source = gemmConvModel(5);
  for (const format of ['gather', 'dense'] as const) {
    const { model } = clusterWeights(source, { bits: 2, format });
    const weights = layerWeights(model);
    assert.deepEqual(weights.map((w) => [w.summary.node, w.summary.distinctValues, w.summary.effectiveBits]), [['conv', 4, 2], ['fc', 4, 2]], format);
    for (const w of weights) assert.equal(w.summary.storageBits, format === 'gather' ? 8 : 32, format);
    if (format === 'gather') {
      // The stored tensor is the indices; the values are what the Gather gives the layer.
      for (const w of weights) assert.equal(model.graph.initializers.get(w.summary.weight)?.dataType, DataType.UINT8);
      const expected = await ortValues(model, weights.map((w) => w.value), gemmConvFeeds());
      for (const w of weights) assert.deepEqual(Array.from(w.values), Array.from(expected[w.value]!));
    }
  }
});

test('dynamic quantization (MatMulInteger, ConvInteger): integers dequantized with the scale found after the integer op', () => {
  const source = gemmConvModel(8);
  const { model } = quantizeDynamic(source, { perChannel: true });
  assert.ok(model.graph.nodes.some((n) => n.opType === 'ConvInteger') && model.graph.nodes.some((n) => n.opType === 'MatMulInteger'));
  const weights = layerWeights(model);
  assert.deepEqual(weights.map((w) => [w.summary.opType, w.scaled, w.summary.storageBits]), [['ConvInteger', true, 8], ['MatMulInteger', true, 8]]);
  // Symmetric int8 per output channel: every dequantized value is within half a step of the float weight.
  const conv = source.graph.initializers.get('conv.weight')!.toFloat32();
  const convValues = weights[0]!.values;
  for (let m = 0; m < 4; m++) {
    const row = conv.subarray(m * 18, (m + 1) * 18);
    const step = Math.max(...Array.from(row, Math.abs)) / 127;
    for (let i = 0; i < 18; i++) assert.ok(Math.abs(convValues[m * 18 + i]! - row[i]!) <= step / 2 + 1e-7);
  }
  // MatMulInteger holds the Gemm's weight transposed to [K, N]: compare as a multiset via sorted values.
  const fc = Array.from(source.graph.initializers.get('fc.weight')!.toFloat32()).sort((a, b) => a - b);
  const fcValues = Array.from(weights[1]!.values).sort((a, b) => a - b);
  assert.equal(fcValues.length, fc.length);
  const maxStep = Math.max(...fc.map(Math.abs)) / 127;
  fc.forEach((v, i) => assert.ok(Math.abs(fcValues[i]! - v) <= maxStep));
  assert.ok(weightHistogram(model).counts.reduce((a, b) => a + b, 0) > 500);
});

test('QLinearMatMul and QLinearConv: integer weights dequantized with their own scale and zero point', () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.UINT8, [1, 2, 3, 3]);
  const xs = b.floats('x_scale', [], [0.1]);
  const xz = b.initializer(new Tensor('x_zero', DataType.UINT8, [], Uint8Array.from([128])));
  const ys = b.floats('y_scale', [], [0.2]);
  const yz = b.initializer(new Tensor('y_zero', DataType.UINT8, [], Uint8Array.from([128])));
  // Conv weight [2, 2, 1, 1], per output channel scales 0.5 and 0.25, zero points 0.
  const cw = b.initializer(new Tensor('conv_w', DataType.INT8, [2, 2, 1, 1], Int8Array.from([2, 0, -4, 8])));
  const cs = b.floats('conv_w_scale', [2], [0.5, 0.25]);
  const cz = b.initializer(new Tensor('conv_w_zero', DataType.INT8, [2], Int8Array.from([0, 0])));
  const c = b.op('QLinearConv', [x, xs, xz, cw, cs, cz, ys, yz], {}, { name: 'qconv' });
  const f = b.op('Reshape', [c, b.int64s('shape', [2, 9])], {}, { name: 'flat' });
  // MatMul weight [9, 2], one scale 0.125, zero point 3 (uint8).
  const mw = b.initializer(new Tensor('mm_w', DataType.UINT8, [9, 2], Uint8Array.from({ length: 18 }, (_, i) => i % 5)));
  const ms = b.floats('mm_w_scale', [], [0.125]);
  const mz = b.initializer(new Tensor('mm_w_zero', DataType.UINT8, [], Uint8Array.from([3])));
  b.op('QLinearMatMul', [f, ys, yz, mw, ms, mz, ys, yz], {}, { name: 'qmm', output: 'y' });
  b.output('y');
  const weights = layerWeights(modelOf(b.graph));
  assert.deepEqual(weights.map((w) => [w.summary.weight, w.summary.opType, w.summary.storageBits, w.scaled]), [['conv_w', 'QLinearConv', 8, true], ['mm_w', 'QLinearMatMul', 8, true]]);
  assert.deepEqual(Array.from(weights[0]!.values), [1, 0, -1, 2]);
  assert.deepEqual(Array.from(weights[1]!.values), Array.from({ length: 18 }, (_, i) => ((i % 5) - 3) * 0.125));
  // q equals the zero point 3 at i = 3, 8 and 13.
  assert.equal(weights[1]!.summary.nonzeros, 18 - [3, 8, 13].length);
});

test('a Gather embedding table is a layer; a codebook looked up by constant indices is not', () => {
  const b = new GraphBuilder();
  const ids = b.input('ids', DataType.INT64, ['n']);
  const table = b.floats('embedding', [10, 4], randomFloats(40, 2));
  b.op('Gather', [table, ids], { axis: 0 }, { name: 'embed', output: 'e' });
  b.output('e');
  const layers = layerSummaries(modelOf(b.graph));
  assert.deepEqual(layers.map((l) => [l.weight, l.node, l.opType, l.params]), [['embedding', 'embed', 'Gather', 40]]);
});

test('outliers get the end bins; the inner bins split the 0.1%..99.9% quantile range equally', () => {
  // 1000 evenly spaced values in [-1, 1] (none zero), and one outlier at 100: sorted, the 0.1% quantile is the second
  // value and the 99.9% quantile the 1000th (1).
  const values = Float32Array.from([...Array.from({ length: 1000 }, (_, i) => -1 + (2 * i) / 999), 100]);
  const h = histogramOf([values], 10);
  const lo = values[1]!, hi = 1;
  assert.equal(h.edges.length, 11);
  assert.deepEqual([h.edges[0], h.edges[1], h.edges[9], h.edges[10]], [-1, lo, hi, 100]);
  const width = (hi - lo) / 8;
  for (let i = 1; i < 9; i++) assert.ok(Math.abs(h.edges[i + 1]! - h.edges[i]! - width) < 1e-6);
  // Below the 0.1% quantile: -1 alone; from the 99.9% quantile on: 1 and the outlier.
  assert.equal(h.counts[0], 1);
  assert.equal(h.counts[9], 2);
  assert.equal(h.counts.reduce((a, b) => a + b, 0), 1001);
  // Counted as the edges say.
  for (let b = 1; b < 9; b++) assert.equal(h.counts[b], values.filter((v) => v >= h.edges[b]! && v < h.edges[b + 1]!).length);
});

test('a model without layers has an empty histogram', () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2]);
  b.op('Relu', [x], {}, { output: 'y' });
  b.output('y');
  assert.deepEqual(layerSummaries(modelOf(b.graph)), []);
  assert.deepEqual(weightHistogram(modelOf(b.graph)), { edges: [], counts: [], zeros: 0 });
  assert.throws(() => weightHistogram(modelOf(b.graph), 0), /bins must be a whole number/);
});

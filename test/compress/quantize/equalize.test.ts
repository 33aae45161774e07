import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, floatAttr, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { dequantizeArray, quantizeArray } from '../../../src/compress/quantize/arithmetic.js';
import { biasCorrection, channelRanges, correctBiases, equalizeCrossLayer } from '../../../src/compress/quantize/equalize.js';
import { LinearLayer, linearLayer } from '../../../src/compress/optimize/linear-layer.js';
import { seededRandom } from '../../../src/runtime/inputs.js';
import { runOnce } from '../../helpers/run.js';

const rand = seededRandom(11);
/** Values whose scale differs by up to 100x between output channels (what equalization is for). */
function unevenWeights(out: number, perOut: number): Float32Array {
  const w = new Float32Array(out * perOut);
  for (let o = 0; o < out; o++) {
    const scale = 10 ** (2 * rand() - 1);
    for (let i = 0; i < perOut; i++) w[o * perOut + i] = scale * (2 * rand() - 1);
  }
  return w;
}
const uniform = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());

function layerOf(model: Model, name: string): LinearLayer {
  const l = linearLayer(model.graph, model.graph.nodes.find((n) => n.name === name)!);
  assert.ok(typeof l !== 'string', String(l));
  return l as LinearLayer;
}

async function outputs(model: Model, feeds: Record<string, Tensor>): Promise<Float32Array> {
  return (await runOnce(model, feeds)).y!.toFloat32();
}

function maxRelativeDifference(a: Float32Array, b: Float32Array): number {
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); s = Math.max(s, Math.abs(b[i]!)); }
  return d / s;
}

/** conv (8 -> 12, 3x3) -> Relu -> MaxPool -> depthwise conv (12, 3x3) -> Relu -> conv 1x1 (12 -> 6); and a Gemm pair. */
function convChain(): Model {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['n', 8, 10, 10]);
  const c1 = b.op('Conv', [x, b.floats('w1', [12, 8, 3, 3], unevenWeights(12, 72)), b.floats('b1', [12], uniform(12, -1, 1))], { pads: [1, 1, 1, 1] }, { name: 'conv1' });
  const p = b.op('MaxPool', [b.op('Relu', [c1], {}, { name: 'relu1' })], { kernel_shape: [2, 2], strides: [2, 2] }, { name: 'pool' });
  const c2 = b.op('Conv', [p, b.floats('w2', [12, 1, 3, 3], unevenWeights(12, 9)), b.floats('b2', [12], uniform(12, -1, 1))], { group: 12, pads: [1, 1, 1, 1] }, { name: 'dw' });
  const c3 = b.op('Conv', [b.op('Relu', [c2], {}, { name: 'relu2' }), b.floats('w3', [6, 12, 1, 1], uniform(72, -1, 1))], {}, { name: 'conv3' });
  const flat = b.op('Flatten', [c3], {}, { name: 'flatten' });
  const g1 = b.op('Gemm', [flat, b.floats('g1', [40, 150], unevenWeights(40, 150).map((v) => v / 10)), b.floats('gb1', [40], uniform(40, -1, 1))], { transB: 1 }, { name: 'fc1' });
  b.op('Gemm', [b.op('Relu', [g1], {}, { name: 'relu3' }), b.floats('g2', [5, 40], uniform(200, -1, 1))], { transB: 1 }, { name: 'fc2', output: 'y' });
  b.output('y', DataType.FLOAT);
  return modelOf(b.graph, { '': 17 });
}

test('cross-layer equalization: same outputs in float, per-channel ranges of each pair made equal', async () => {
  const model = convChain();
  const { model: eq, pairs, iterations } = equalizeCrossLayer(model, { iterations: 50, tolerance: 1e-7 });
  assert.deepEqual(pairs.map((p) => [p.first, p.second, p.between.join('+')]), [
    ['conv1', 'dw', 'relu1+pool'], ['dw', 'conv3', 'relu2'], ['fc1', 'fc2', 'relu3'],
  ]);
  assert.ok(iterations > 1 && iterations <= 50);
  const feeds = { x: Tensor.fromFloat32('x', [3, 8, 10, 10], uniform(2400, -1, 1)) };
  const [before, after] = [await outputs(model, feeds), await outputs(eq, feeds)];
  assert.ok(maxRelativeDifference(after, before) < 1e-5, `outputs moved by ${maxRelativeDifference(after, before)}`);
  // fc1 -> fc2 is a lone pair: equal in one step. conv1 -> dw -> conv3 is a chain whose middle layer moves in both
  // pairs: equal at convergence.
  for (const [first, second] of [['fc1', 'fc2'], ['conv1', 'dw'], ['dw', 'conv3']] as const) {
    const r1 = channelRanges(layerOf(eq, first), false), r2 = channelRanges(layerOf(eq, second), true);
    const r1Before = channelRanges(layerOf(model, first), false), r2Before = channelRanges(layerOf(model, second), true);
    const spread = (a: Float64Array, b: Float64Array) => Math.max(...a.map((v, i) => Math.abs(Math.log(v / b[i]!))));
    assert.ok(spread(r1Before, r2Before) > 1, `${first}/${second} started unequal`);
    assert.ok(spread(r1, r2) < 1e-4, `${first}/${second}: log range ratios up to ${spread(r1, r2)}`);
  }
  // The input model is untouched.
  assert.deepEqual(channelRanges(layerOf(model, 'fc1'), false), channelRanges(linearLayer(model.graph, model.graph.nodes.find((n) => n.name === 'fc1')!) as LinearLayer, false));
});

test('equalization makes per-tensor weight quantization hurt less (4-bit weights, output error vs float)', async () => {
  const model = convChain();
  const { model: eq } = equalizeCrossLayer(model);
  const fakeQuantized = (m: Model): Model => {
    const out = m.clone();
    for (const name of ['w1', 'w2', 'w3', 'g1', 'g2']) {
      const node = out.graph.nodes.find((n) => n.inputs[1] === name || n.inputs[1]?.startsWith(`${name}_`))!;
      const t = out.graph.initializers.get(node.inputs[1]!)!;
      const q = quantizeArray(t.toFloat32(), t.dims, { bits: 4, signed: true, symmetric: true });
      out.graph.initializers.set(t.name, Tensor.fromFloat32(t.name, t.dims, dequantizeArray(q, t.dims)));
    }
    return out;
  };
  const feeds = { x: Tensor.fromFloat32('x', [4, 8, 10, 10], uniform(3200, -1, 1)) };
  const reference = await outputs(model, feeds);
  const error = async (m: Model) => {
    const y = await outputs(fakeQuantized(m), feeds);
    return y.reduce((s, v, i) => s + (v - reference[i]!) ** 2, 0) / y.length;
  };
  const [plain, equalized] = [await error(model), await error(eq)];
  assert.ok(equalized < plain / 2, `output MSE with 4-bit per-tensor weights: ${plain} plain, ${equalized} equalized`);
});

test('bias correction by hand: delta = -(Wq - W) E[x]', () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['n', 2]);
  b.output(b.op('Gemm', [x, b.floats('w', [1, 2], [1, 2]), b.floats('c', [1], [0.5])], { transB: 1, alpha: floatAttr(2) }, { name: 'fc', output: 'y' }), DataType.FLOAT);
  const model = modelOf(b.graph);
  const layer = layerOf(model, 'fc');
  // (Wq - W) = [0.5, -0.5]; E[x] = [2, 4]; alpha 2: -(2 * (0.5 * 2 - 0.5 * 4)) = 2.
  assert.deepEqual([...biasCorrection(layer, Float32Array.from([1.5, 1.5]), [2, 4])], [2]);
  const { model: corrected, corrected: names } = correctBiases(model, [{ node: 'fc', quantizedWeight: Float32Array.from([1.5, 1.5]), inputMean: [2, 4] }]);
  assert.deepEqual(names, ['fc']);
  assert.deepEqual([...corrected.graph.initializers.get(corrected.graph.nodes[0]!.inputs[2]!)!.toFloat32()], [2.5]);
  assert.deepEqual([...model.graph.initializers.get('c')!.toFloat32()], [0.5], 'input model unchanged');
});

/** Mean over samples (and positions) of y_candidate - y_reference per output channel (axis 1). */
function meanErrorPerChannel(candidate: Tensor, reference: Tensor): Float64Array {
  const [n, c] = candidate.dims as [number, number];
  const inner = candidate.size / (n * c);
  const a = candidate.toFloat32(), r = reference.toFloat32();
  const sums = new Float64Array(c);
  for (let i = 0; i < a.length; i++) sums[Math.floor(i / inner) % c] += a[i]! - r[i]!;
  return sums.map((s) => s / (n * inner));
}

const largest = (a: Float64Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

for (const [kind, padded] of [['Gemm', false], ['Conv', false], ['Conv', true]] as const) {
  test(`bias correction: the mean output error of a ${kind}${padded ? ' with zero padding' : ''} with 4-bit weights over the calibration data shrinks`, async () => {
    const b = new GraphBuilder();
    const conv = kind === 'Conv';
    const x = b.input('x', DataType.FLOAT, conv ? ['n', 6, 16, 16] : ['n', 32]);
    const weightDims = conv ? [10, 6, 3, 3] : [10, 32];
    const perOut = weightDims.slice(1).reduce((p, d) => p * d, 1);
    const w = b.floats('w', weightDims, uniform(10 * perOut, -1, 1));
    const attrs: Record<string, number | number[]> = conv ? { pads: padded ? [1, 1, 1, 1] : [0, 0, 0, 0] } : { transB: 1 };
    b.output(b.op(kind, [x, w, b.floats('bias', [10], uniform(10, -0.1, 0.1))], attrs, { name: 'layer', output: 'y' }), DataType.FLOAT);
    const model = modelOf(b.graph);
    // Inputs with a non-zero mean per channel (post-ReLU-like), so (Wq - W) E[x] is far from 0.
    const shape = conv ? [32, 6, 16, 16] : [256, 32];
    const size = shape.reduce((p, d) => p * d, 1);
    const channels = shape[1]!, inner = size / (shape[0]! * channels);
    const offsets = uniform(channels, 0.5, 2);
    const data = Float32Array.from({ length: size }, (_, i) => offsets[Math.floor(i / inner) % channels]! * (0.5 + rand()));
    const feeds = { x: new Tensor('x', DataType.FLOAT, shape, data) };
    const mean = new Float64Array(channels);
    for (let i = 0; i < size; i++) mean[Math.floor(i / inner) % channels] += data[i]! / (size / channels);

    const weight = model.graph.initializers.get('w')!;
    const q = quantizeArray(weight.toFloat32(), weight.dims, { bits: 4, signed: true, symmetric: true });
    const wq = dequantizeArray(q, weight.dims);
    const withWeights = (m: Model, values: Float32Array) => {
      const out = m.clone();
      const name = out.graph.nodes[0]!.inputs[1]!;
      out.graph.initializers.set(name, Tensor.fromFloat32(name, weight.dims, values));
      return out;
    };
    const corrected = correctBiases(model, [{ node: 'layer', quantizedWeight: wq, inputMean: mean }]).model;
    const reference = (await runOnce(model, feeds)).y!;
    const plain = meanErrorPerChannel((await runOnce(withWeights(model, wq), feeds)).y!, reference);
    const fixed = meanErrorPerChannel((await runOnce(withWeights(corrected, wq), feeds)).y!, reference);
    // Gemm: exact up to float rounding. Conv: each kernel tap averages a slightly different window of positions than
    // the channel mean E[x] (sampling noise only), and zero padding makes border taps see 0 instead of E[x], so the
    // correction over-shoots at the border (60 of 256 positions here) yet still removes most of the bias.
    const factor = kind === 'Gemm' ? 1000 : padded ? 3 : 50;
    assert.ok(largest(plain) > 0.05, `quantized weights shift the mean output: ${largest(plain)}`);
    assert.ok(largest(fixed) < largest(plain) / factor, `${kind}: mean error ${largest(plain)} -> ${largest(fixed)}`);
  });
}

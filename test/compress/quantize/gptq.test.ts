import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { seededRandom } from '../../../src/runtime/inputs.js';
import { nodeRuntime } from '../../../src/runtime/node.js';
import { dequantizeArray } from '../../../src/compress/quantize/arithmetic.js';
import { collectInputStatistics } from '../../../src/compress/quantize/gptq.js';
import { WeightQuantizationOptions, quantizeWeights } from '../../../src/compress/quantize/weight-only.js';

/** Rows x = z·A + small noise with z of 8 dimensions: 64 strongly correlated features. */
function correlatedBatches(count: number, rows: number, K: number, seed: number): Tensor[] {
  const random = seededRandom(seed);
  const rank = 8;
  const A = Array.from({ length: rank * K }, () => random() * 2 - 1);
  return Array.from({ length: count }, (_, b) => {
    const data = new Float32Array(rows * K);
    for (let r = 0; r < rows; r++) {
      const z = Array.from({ length: rank }, () => random() * 2 - 1);
      for (let k = 0; k < K; k++) {
        let v = 0.05 * (random() * 2 - 1);
        for (let j = 0; j < rank; j++) v += z[j]! * A[j * K + k]!;
        data[r * K + k] = v;
      }
    }
    return Tensor.fromFloat32(`x${b}`, [rows, K], data);
  });
}

function layerModel(op: 'MatMul' | 'Gemm', K: number, N: number, seed: number): Model {
  const random = seededRandom(seed);
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['batch', K]);
  const w = b.floats('w', op === 'MatMul' ? [K, N] : [N, K], Array.from({ length: K * N }, () => random() * 2 - 1));
  b.output(b.op(op, [x, w], op === 'Gemm' ? { transB: 1 } : {}, { name: 'layer', output: 'y' }), DataType.FLOAT);
  return modelOf(b.graph);
}

/**
 * Mean squared difference between two models' outputs over the calibration feeds. At optimization level 'basic':
 * from 'extended' up onnxruntime-node rewrites DequantizeLinear + MatMul into MatMulNBits with int8 activations,
 * which would add its own error to both roundings.
 */
async function outputMse(reference: Model, candidate: Model, feeds: Record<string, Tensor>[]): Promise<number> {
  const a = await nodeRuntime.createSession(reference, { threads: 1, graphOptimizationLevel: 'basic' });
  const b = await nodeRuntime.createSession(candidate, { threads: 1, graphOptimizationLevel: 'basic' });
  let sum = 0, count = 0;
  for (const f of feeds) {
    const y = Object.values(await a.run(f))[0]!.toFloat32();
    const z = Object.values(await b.run(f))[0]!.toFloat32();
    for (let i = 0; i < y.length; i++) { sum += (y[i]! - z[i]!) ** 2; count++; }
  }
  await a.release();
  await b.release();
  return sum / count;
}

async function compare(model: Model, feeds: Record<string, Tensor>[], options: WeightQuantizationOptions) {
  const nearest = await quantizeWeights(model, options);
  const gptq = await quantizeWeights(model, { ...options, rounding: 'gptq', calibration: { runtime: nodeRuntime, feeds } });
  assert.equal(gptq.report.weights[0]!.rounding, 'gptq');
  return { nearest, gptq, mseNearest: await outputMse(model, nearest.model, feeds), mseGptq: await outputMse(model, gptq.model, feeds) };
}

test('GPTQ has lower output MSE than round-to-nearest on correlated inputs (4 and 3 bits, MatMul and Gemm)', async (t) => {
  const feeds = correlatedBatches(4, 64, 64, 1).map((x) => ({ x }));
  for (const [op, options] of [
    ['MatMul', { bits: 4 }], ['MatMul', { bits: 3 }], ['Gemm', { bits: 4 }], ['Gemm', { bits: 3 }],
    ['MatMul', { bits: 4, granularity: { block: 16 } }], ['Gemm', { bits: 3, symmetric: false, granularity: { block: 32 } }],
  ] as ['MatMul' | 'Gemm', WeightQuantizationOptions][]) {
    const model = layerModel(op, 64, 32, 2);
    const { mseNearest, mseGptq } = await compare(model, feeds, options);
    t.diagnostic(`${op} ${JSON.stringify(options)}: output MSE nearest ${mseNearest.toExponential(3)}, GPTQ ${mseGptq.toExponential(3)} (${(mseNearest / mseGptq).toFixed(1)}x lower)`);
    assert.ok(mseGptq < mseNearest, `${op} ${JSON.stringify(options)}: GPTQ ${mseGptq} >= nearest ${mseNearest}`);
  }
});

test('GPTQ weights are exactly representable: integers in range, the same QDQ form, outputs equal their float simulation', async () => {
  const feeds = correlatedBatches(2, 64, 64, 3).map((x) => ({ x }));
  const model = layerModel('MatMul', 64, 32, 4);
  const { nearest, gptq } = await compare(model, feeds, { bits: 4 });
  const describe = (m: Model) => ({
    nodes: m.graph.nodes.map((n) => [n.opType, n.inputs, n.attributes.map((a) => [a.name, a.value])]),
    tensors: [...m.graph.initializers.values()].map((x) => [x.name, x.dataType, [...x.dims]]),
  });
  assert.deepEqual(describe(gptq.model), describe(nearest.model));
  const q = gptq.model.graph.initializers.get('w_quantized')!;
  assert.equal(q.dataType, DataType.INT4);
  const values = q.toNumbers();
  assert.ok(values.every((v) => Number.isInteger(v) && v >= -8 && v <= 7));
  assert.notDeepEqual(values, nearest.model.graph.initializers.get('w_quantized')!.toNumbers(), 'GPTQ changed some roundings');
  // Float simulation: the dequantized weights in a plain MatMul.
  const scales = gptq.model.graph.initializers.get('w_scale')!.toFloat32();
  const weights = dequantizeArray({ values: Int32Array.from(values), scales, zeroPoints: new Int32Array(32), paramDims: [32] }, [64, 32], { kind: 'channel', axis: 1 });
  const simulation = model.clone();
  simulation.graph.initializers.set('w', Tensor.fromFloat32('w', [64, 32], weights));
  const mse = await outputMse(simulation, gptq.model, feeds);
  assert.ok(mse < 1e-12, `quantized vs simulation ${mse}`);
});

test('Conv input statistics (im2col with pads, strides, dilations, groups) equal the patches a one-hot Conv extracts', async () => {
  const random = seededRandom(9);
  const [C, group, kh, kw] = [4, 2, 3, 2];
  const attrs = { pads: [1, 0, 2, 1], strides: [2, 1], dilations: [1, 2], group };
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, C, 7, 6]);
  const w = b.floats('w', [6, C / group, kh, kw], Array.from({ length: 6 * (C / group) * kh * kw }, () => random() - 0.5));
  b.output(b.op('Conv', [x, w], attrs, { name: 'conv', output: 'y' }), DataType.FLOAT);
  const model = modelOf(b.graph);
  const feeds = [{ x: Tensor.fromFloat32('x', [2, C, 7, 6], Array.from({ length: 2 * C * 42 }, () => random() * 2 - 1)) }];
  const stats = (await collectInputStatistics(model, [model.graph.nodes[0]!], { runtime: nodeRuntime, feeds })).get(model.graph.nodes[0]!)!;
  // A Conv whose output channel p of group g has a one-hot kernel at patch position p copies patch element p.
  const K = (C / group) * kh * kw;
  const onehot = new Float32Array(group * K * K);
  for (let g = 0; g < group; g++) for (let p = 0; p < K; p++) onehot[(g * K + p) * K + p] = 1;
  const e = new GraphBuilder();
  e.input('x', DataType.FLOAT, [2, C, 7, 6]);
  e.output(e.op('Conv', ['x', e.floats('e', [group * K, C / group, kh, kw], onehot)], attrs, { output: 'patches' }));
  const patches = (await (await nodeRuntime.createSession(modelOf(e.graph))).run(feeds[0]!)).patches!;
  const [, , oh, ow] = patches.dims as number[];
  const P = patches.toFloat32();
  assert.equal(stats.samples, 2 * oh! * ow!);
  for (let g = 0; g < group; g++) {
    const expected = new Float64Array(K * K);
    for (let n = 0; n < 2; n++) for (let pos = 0; pos < oh! * ow!; pos++) {
      for (let i = 0; i < K; i++) for (let j = i; j < K; j++) {
        expected[i * K + j] += P[((n * group * K) + g * K + i) * oh! * ow! + pos]! * P[((n * group * K) + g * K + j) * oh! * ow! + pos]!;
      }
    }
    for (let i = 0; i < K; i++) for (let j = i; j < K; j++) {
      assert.ok(Math.abs(stats.hessians[g]![i * K + j]! - expected[i * K + j]!) < 1e-4, `group ${g} H[${i}][${j}]`);
    }
  }
});

test('GPTQ on Conv (grouped, via im2col) and in MatMulNBits form beats round-to-nearest; unsupported layers round to nearest', async (t) => {
  const random = seededRandom(21);
  // Smooth images: neighbouring pixels and channels are correlated.
  const image = () => {
    const data = new Float32Array(4 * 4 * 10 * 10);
    for (let n = 0; n < 4; n++) {
      const base = Array.from({ length: 6 }, () => random() * 2 - 1);
      for (let c = 0; c < 4; c++) for (let y = 0; y < 10; y++) for (let x = 0; x < 10; x++) {
        data[((n * 4 + c) * 10 + y) * 10 + x] = base[0]! * Math.sin(x / 3 + base[1]!) + base[2]! * Math.cos(y / 4 + base[3]!) + base[4]! * (c - 1.5) + 0.05 * (random() - 0.5);
      }
    }
    return Tensor.fromFloat32('x', [4, 4, 10, 10], data);
  };
  const feeds = Array.from({ length: 4 }, () => ({ x: image() }));
  const b = new GraphBuilder();
  b.input('x', DataType.FLOAT, [4, 4, 10, 10]);
  const w = b.floats('w', [8, 2, 3, 3], Array.from({ length: 144 }, () => random() - 0.5));
  b.output(b.op('Conv', ['x', w], { pads: [1, 1, 1, 1], group: 2 }, { name: 'conv', output: 'y' }), DataType.FLOAT);
  const conv = modelOf(b.graph);
  const c3 = await compare(conv, feeds, { bits: 3 });
  t.diagnostic(`Conv 3 bits per channel: output MSE nearest ${c3.mseNearest.toExponential(3)}, GPTQ ${c3.mseGptq.toExponential(3)}`);
  assert.ok(c3.mseGptq < c3.mseNearest);

  const mmFeeds = correlatedBatches(4, 64, 64, 5).map((x) => ({ x }));
  const nb = await compare(layerModel('MatMul', 64, 32, 6), mmFeeds, { format: 'nbits', bits: 4, granularity: { block: 32 } });
  assert.equal(nb.gptq.report.weights[0]!.format, 'nbits');
  t.diagnostic(`MatMulNBits 4 bits block 32: output MSE nearest ${nb.mseNearest.toExponential(3)}, GPTQ ${nb.mseGptq.toExponential(3)}`);
  assert.ok(nb.mseGptq < nb.mseNearest);

  const e = new GraphBuilder();
  e.input('x', DataType.FLOAT, [2, 1, 64]);
  e.output(e.op('MatMul', ['x', e.floats('w3', [2, 64, 8], Array.from({ length: 1024 }, () => random() - 0.5))], {}, { name: 'batched', output: 'y' }));
  const batched = await quantizeWeights(modelOf(e.graph), { rounding: 'gptq', calibration: { runtime: nodeRuntime, feeds: [{ x: Tensor.fromFloat32('x', [2, 1, 64], new Float32Array(128).fill(1)) }] } });
  assert.equal(batched.report.weights[0]!.rounding, 'nearest');
  assert.match(batched.report.weights[0]!.note!, /rounded to nearest: GPTQ handles rank-2 MatMul weights, this one is rank 3/);
});

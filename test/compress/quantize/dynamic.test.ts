// Dynamic quantization against a float simulation written here: weights dequantized with the pass's plan, activations
// quantized per tensor exactly as the ONNX spec defines DynamicQuantizeLinear, products in float64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, floatAttr, modelOf } from '../../../src/core/builder.js';
import { decodeModel, encodeModel } from '../../../src/core/codec.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { loadModel } from '../../../src/node/io.js';
import { dequantizeArray, quantizeArray, roundHalfEven } from '../../../src/compress/quantize/arithmetic.js';
import { DynamicQuantizeOptions, dynamicWeightPlan, quantizeDynamic } from '../../../src/compress/quantize/dynamic.js';
import { randomInputs, seededRandom } from '../../../src/runtime/inputs.js';
import { fixture } from '../../fixtures/fixtures.js';
import { maxAbs, maxDiff, runInBothRuntimes } from '../../helpers/compare.js';

const VARIANTS: DynamicQuantizeOptions[] = [
  { weightType: 'int8' },
  { weightType: 'int8', perChannel: true },
  { weightType: 'uint8' },
  { weightType: 'uint8', perChannel: true, reduceRange: true },
  { weightType: 'int8', perChannel: true, reduceRange: true },
];

/** DynamicQuantizeLinear as the ONNX spec writes it, in float32: uint8 over [min(x,0), max(x,0)], then dequantized. */
function fakeQuantizeActivations(x: Float32Array): Float32Array {
  let lo = 0, hi = 0;
  for (const v of x) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const scale = hi === lo ? 1 : Math.fround(Math.fround(hi - lo) / 255);
  const zeroPoint = roundHalfEven(Math.min(255, Math.max(0, Math.fround(0 - Math.fround(lo / scale)))));
  return x.map((v) => {
    const q = Math.min(255, Math.max(0, roundHalfEven(Math.fround(v / scale)) + zeroPoint));
    return (q - zeroPoint) * scale;
  });
}

/** The weight the quantized model effectively multiplies by: [K, N] for MatMul/Gemm, W's own layout for Conv. */
function effectiveWeight(op: 'MatMul' | 'Gemm' | 'Conv', data: Float32Array, dims: number[], options: DynamicQuantizeOptions): Float32Array {
  const plan = dynamicWeightPlan(op, dims, options);
  return dequantizeArray(quantizeArray(data, dims, { ...plan.format, granularity: plan.granularity }), dims, plan.granularity);
}

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = w[i * cols + j]!;
  return t;
}

/** [M, K] x [K, N] + bias in float64. */
function dense(x: Float32Array, m: number, k: number, w: Float32Array, n: number, bias?: Float32Array): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = bias ? bias[j]! : 0;
    for (let p = 0; p < k; p++) s += x[i * k + p]! * w[p * n + j]!;
    y[i * n + j] = s;
  }
  return y;
}



async function runBoth(model: Model, feeds: Record<string, Tensor>): Promise<Float32Array[]> {
  return (await runInBothRuntimes(model, feeds)).map((o) => Object.values(o)[0]!.toFloat32());
}

/** The ops onnxruntime runs after its graph optimizations. */
async function optimizedOps(model: Model): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'nnzip-dyn-'));
  try {
    const path = join(dir, 'optimized.onnx');
    const s = await ort.InferenceSession.create(encodeModel(model).bytes, { optimizedModelFilePath: path, graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    await s.release();
    return decodeModel(new Uint8Array(readFileSync(path))).graph.nodes.map((n) => n.qualifiedOp);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Integer products are exact (|acc| < 2^24 here, so the int32 -> float Cast is exact too); what remains is float32
// rounding of the scale product, the final multiply and the bias add (a few ulps of |y|) against float64 here.
const SINGLE_LAYER_TOLERANCE = 1e-5;

test('Gemm (transB, alpha, beta, bias) and MatMul match the float simulation in onnxruntime-node and -web', async () => {
  const random = seededRandom(11);
  const M = 5, K = 40, N = 7;
  const w = Float32Array.from({ length: N * K }, () => (random() - 0.5) * 2);
  const bias = Float32Array.from({ length: N }, () => random() - 0.5);
  const x = Float32Array.from({ length: M * K }, () => (random() - 0.3) * 3);
  for (const op of ['Gemm', 'MatMul'] as const) {
    const b = new GraphBuilder();
    const xi = b.input('x', DataType.FLOAT, [M, K]);
    if (op === 'Gemm') {
      b.output(b.op('Gemm', [xi, b.floats('w', [N, K], w), b.floats('bias', [N], bias)], { transB: 1, alpha: 0.5, beta: floatAttr(2) }, { name: 'fc', output: 'y' }), DataType.FLOAT);
    } else {
      b.output(b.op('MatMul', [xi, b.floats('w', [K, N], transpose(w, N, K))], {}, { name: 'fc', output: 'y' }), DataType.FLOAT);
    }
    const model = modelOf(b.graph, { '': 13 });
    for (const options of VARIANTS) {
      const { model: q, report } = quantizeDynamic(model, options);
      assert.equal(report.quantized.length, 1);
      assert.equal(report.quantized[0]!.bits, options.reduceRange ? 7 : 8);
      // Weight as MatMulInteger reads it: [K, N], alpha folded in for the Gemm.
      const kn = transpose(op === 'Gemm' ? w.map((v) => Math.fround(v * 0.5)) : w, N, K);
      const wq = effectiveWeight(op, kn, [K, N], options);
      const expected = dense(fakeQuantizeActivations(x), M, K, wq, N, op === 'Gemm' ? bias.map((v) => v * 2) : undefined);
      const tolerance = SINGLE_LAYER_TOLERANCE * maxAbs(expected);
      for (const y of await runBoth(q, { x: Tensor.fromFloat32('x', [M, K], x) })) {
        assert.ok(maxDiff(y, expected) <= tolerance, `${op} ${JSON.stringify(options)}: ${maxDiff(y, expected)} > ${tolerance}`);
      }
      const storedType = q.graph.initializers.get(q.graph.nodes.find((n) => n.opType === 'MatMulInteger')!.inputs[1]!)!.dataType;
      assert.equal(storedType, options.weightType === 'uint8' ? DataType.UINT8 : DataType.INT8);
    }
  }
});

/** Direct 2-D convolution (NCHW, OIHW, groups, strides, symmetric pads) in float64. */
function conv2d(x: Float32Array, [n, c, h, wd]: number[], w: Float32Array, [m, cg, kh, kw]: number[], bias: Float32Array, stride: number, pad: number, group: number) {
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1, ow = Math.floor((wd + 2 * pad - kw) / stride) + 1;
  const y = new Float64Array(n * m * oh * ow);
  const mg = m / group;
  for (let b = 0; b < n; b++) for (let o = 0; o < m; o++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let s = bias[o]!;
    const g = Math.floor(o / mg);
    for (let ci = 0; ci < cg; ci++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
      const yy = i * stride - pad + u, xx = j * stride - pad + v;
      if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
      s += x[((b * c + g * cg + ci) * h + yy) * wd + xx]! * w[((o * cg + ci) * kh + u) * kw + v]!;
    }
    y[((b * m + o) * oh + i) * ow + j] = s;
  }
  return y;
}

test('Conv (groups, stride, pads, bias) becomes ConvInteger and matches the float simulation in both runtimes', async () => {
  const random = seededRandom(5);
  const xDims = [2, 4, 7, 7];
  const x = Float32Array.from({ length: 2 * 4 * 49 }, () => (random() - 0.4) * 2);
  for (const group of [1, 2]) {
    const wDims = [6, 4 / group, 3, 3];
    const w = Float32Array.from({ length: 6 * (4 / group) * 9 }, (_, i) => (random() - 0.5) * (1 + (i % 5)));
    const bias = Float32Array.from({ length: 6 }, () => random() - 0.5);
    const b = new GraphBuilder();
    const xi = b.input('x', DataType.FLOAT, xDims);
    b.output(b.op('Conv', [xi, b.floats('w', wDims, w), b.floats('b', [6], bias)], { group, strides: [2, 2], pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, { name: 'conv', output: 'y' }), DataType.FLOAT);
    const model = modelOf(b.graph, { '': 13 });
    for (const options of VARIANTS) {
      const { model: q, report } = quantizeDynamic(model, options);
      assert.deepEqual(report.quantized.map((r) => [r.node, r.form]), [['conv', 'ConvInteger']]);
      // ConvInteger takes one zero point: per-channel Conv weights are symmetric whatever the type.
      assert.equal(report.quantized[0]!.symmetric, options.weightType === 'int8' || options.perChannel === true);
      const expected = conv2d(fakeQuantizeActivations(x), xDims, effectiveWeight('Conv', w, wDims, options), wDims, bias, 2, 1, group);
      const tolerance = SINGLE_LAYER_TOLERANCE * maxAbs(expected);
      for (const y of await runBoth(q, { x: Tensor.fromFloat32('x', xDims, x) })) {
        assert.ok(maxDiff(y, expected) <= tolerance, `group ${group} ${JSON.stringify(options)}: ${maxDiff(y, expected)} > ${tolerance}`);
      }
    }
  }
});

test('mlp.onnx: every layer quantized, fused by onnxruntime into DynamicQuantizeMatMul, close to the layered simulation', async () => {
  const model = await loadModel(fixture('mlp.onnx'));
  const feeds = randomInputs(model, { batch: 8, seed: 3 });
  const reference = await runBoth(model, feeds);
  for (const options of VARIANTS) {
    const { model: q, report } = quantizeDynamic(model, options);
    assert.deepEqual(report.quantized.map((r) => r.node), ['/fc1/Gemm', '/fc2/Gemm', '/fc3/Gemm']);
    assert.equal(report.weightBytesBefore, (64 * 784 + 32 * 64 + 10 * 32) * 4);
    assert.ok(report.weightBytesAfter < report.weightBytesBefore / 3.9);
    // Simulate layer by layer: Gemm(transB=1) with the effective weight, Relu between layers.
    let x = feeds.input!.toFloat32();
    let width = 784;
    const layers = ['fc1', 'fc2', 'fc3'];
    let expected: Float64Array = new Float64Array();
    for (const [i, name] of layers.entries()) {
      const wt = model.graph.initializers.get(`${name}.weight`)!;
      const n = wt.dims[0]!;
      const wq = effectiveWeight('Gemm', transpose(wt.toFloat32(), n, width), [width, n], options);
      expected = dense(fakeQuantizeActivations(x), 8, width, wq, n, model.graph.initializers.get(`${name}.bias`)!.toFloat32());
      x = Float32Array.from(expected, (v) => (i < layers.length - 1 ? Math.max(0, v) : v));
      width = n;
    }
    // Three chained layers: a float32 rounding difference in one layer's output can move an activation of the next
    // across a rounding boundary of DynamicQuantizeLinear (one activation step); none does here (measured 1.2e-7).
    const tolerance = 1e-4 * maxAbs(expected);
    for (const [r, y] of (await runBoth(q, feeds)).entries()) {
      assert.ok(maxDiff(y, expected) <= tolerance, `${JSON.stringify(options)}: ${maxDiff(y, expected)} > ${tolerance}`);
      // And close to the float model: 8-bit error, well under 2% of the output range here.
      assert.ok(maxDiff(y, reference[r]!) <= 0.02 * maxAbs(reference[r]!), `${JSON.stringify(options)} vs fp32: ${maxDiff(y, reference[r]!)}`);
    }
  }
  const ops = await optimizedOps(quantizeDynamic(model).model);
  assert.deepEqual(ops.filter((o) => o !== 'Relu'), Array(3).fill('com.microsoft.DynamicQuantizeMatMul'));
});

test('resnet_small.onnx: convs and the classifier quantized; runs in both runtimes close to fp32', async () => {
  const model = await loadModel(fixture('resnet_small.onnx'));
  const feeds = randomInputs(model, { batch: 2, seed: 4 });
  const [reference] = await runBoth(model, feeds);
  for (const options of [{ weightType: 'uint8' }, { weightType: 'int8', perChannel: true }] as DynamicQuantizeOptions[]) {
    const { model: q, report } = quantizeDynamic(model, options);
    assert.equal(report.quantized.filter((r) => r.form === 'ConvInteger').length, 8);
    assert.equal(report.quantized.filter((r) => r.form === 'MatMulInteger').length, 1);
    for (const y of await runBoth(q, feeds)) assert.ok(maxDiff(y, reference!) <= 0.03 * maxAbs(reference!), `${JSON.stringify(options)}: ${maxDiff(y, reference!)}`);
  }
});

test('ops, exclude patterns and non-constant weights choose what is quantized; the input model is left alone', async () => {
  const model = await loadModel(fixture('resnet_small.onnx'));
  const before = encodeModel(model).bytes;
  const onlyGemm = quantizeDynamic(model, { ops: ['Gemm'] });
  assert.deepEqual(onlyGemm.report.quantized.map((r) => r.node), ['/fc/Gemm']);
  const excluded = quantizeDynamic(model, { exclude: ['/layer2/*', '/fc/Gemm'] });
  assert.equal(excluded.report.quantized.length, 5);
  assert.ok(excluded.report.skipped.some((s) => s.node === '/layer2/shortcut/shortcut.0/Conv' && s.reason === "excluded by '/layer2/*'"));
  assert.deepEqual(encodeModel(model).bytes, before);

  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, 3]);
  const w = b.input('w', DataType.FLOAT, [3, 4]);
  b.output(b.op('MatMul', [x, w], {}, { name: 'mm', output: 'y' }), DataType.FLOAT);
  const dynamicWeight = quantizeDynamic(modelOf(b.graph, { '': 13 }));
  assert.deepEqual(dynamicWeight.report.skipped, [{ node: 'mm', op: 'MatMul', reason: 'its weight (input 1) is not a constant' }]);
});

test('bad input: unknown ops and weight types, patterns matching nothing, quantized models, NaN weights', async () => {
  const model = await loadModel(fixture('mlp.onnx'));
  assert.throws(() => quantizeDynamic(model, { ops: ['Relu' as 'Conv'] }), /does not handle op 'Relu'/);
  assert.throws(() => quantizeDynamic(model, { weightType: 'int4' as 'int8' }), /weight type 'int4' is not supported/);
  assert.throws(() => quantizeDynamic(model, { exclude: ['/fc9/*'] }), /exclude pattern '\/fc9\/\*' matches no/);
  assert.throws(() => quantizeDynamic(quantizeDynamic(model).model), /already quantized/);
  const broken = model.clone();
  const w = broken.graph.initializers.get('fc2.weight')!;
  const data = w.toFloat32().slice();
  data[3] = NaN;
  broken.graph.initializers.set('fc2.weight', Tensor.fromFloat32('fc2.weight', w.dims, data));
  assert.throws(() => quantizeDynamic(broken), /weight 'fc2.weight' holds NaN at index 3/);
});

test('opset 9 exports with weights in Constant nodes are upgraded and quantized', async () => {
  const model = await loadModel(fixture('mlp_opset9_constants.onnx'));
  const { model: q, report } = quantizeDynamic(model);
  assert.ok(report.quantized.length > 0);
  assert.ok((q.opset('') ?? 0) >= 11);
  const feeds = randomInputs(model, { batch: 2, seed: 1 });
  const [reference] = await runBoth(model, feeds);
  for (const y of await runBoth(q, feeds)) assert.ok(maxDiff(y, reference!) <= 0.03 * maxAbs(reference!));
});

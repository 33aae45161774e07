import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttributeInput, GraphBuilder, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { decomposeConv, energyRank, lowRank, matrix, svd } from '../../../src/compress/lowrank/index.js';
import type { ConvDecompositionOptions, LowRankLayerReport } from '../../../src/compress/lowrank/index.js';
import { loadModel } from '../../../src/node/io.js';
import { fixture } from '../../fixtures/fixtures.js';
import { initializer, nodeNamed, outputDifference, randomValues, withWeight } from './helpers.js';

interface ConvSpec {
  cin: number;
  cout: number;
  kernel: number[];
  input: number[];
  attrs?: Record<string, AttributeInput>;
  bias?: boolean;
  weight?: Float32Array;
}

/** x [batch, cin, ...input] -> Conv 'conv' (weight 'w', bias 'b') -> y. */
function convModel(spec: ConvSpec): Model {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['batch', spec.cin, ...spec.input]);
  const size = spec.cout * spec.cin * spec.kernel.reduce((p, q) => p * q, 1);
  const w = b.floats('w', [spec.cout, spec.cin, ...spec.kernel], spec.weight ?? randomValues(size, 31, 0.3));
  const inputs = [x, w, ...(spec.bias ? [b.floats('b', [spec.cout], randomValues(spec.cout, 32))] : [])];
  b.output(b.op('Conv', inputs, { kernel_shape: spec.kernel, ...spec.attrs }, { name: 'conv' }), DataType.FLOAT);
  return modelOf(b.graph, { '': 17 });
}

const GEOMETRIES: [string, ConvSpec][] = [
  ['3x3, stride 2, pads 1, bias', { cin: 6, cout: 8, kernel: [3, 3], input: [11, 13], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, bias: true }],
  ['3x3, dilation 2, asymmetric pads, strides [1, 2]', { cin: 5, cout: 7, kernel: [3, 3], input: [12, 10], attrs: { dilations: [2, 2], pads: [1, 2, 0, 1], strides: [1, 2] } }],
  ['5x3, SAME_UPPER, strides [2, 1], bias', { cin: 4, cout: 6, kernel: [5, 3], input: [9, 9], attrs: { auto_pad: 'SAME_UPPER', strides: [2, 1] }, bias: true }],
  // (onnxruntime refuses auto_pad SAME with dilations, so the SAME cases have none.)
  ['3x2, SAME_LOWER, stride 3', { cin: 3, cout: 5, kernel: [3, 2], input: [10, 11], attrs: { auto_pad: 'SAME_LOWER', strides: [3, 3] } }],
  ['3x3 VALID', { cin: 4, cout: 4, kernel: [3, 3], input: [7, 8], attrs: { auto_pad: 'VALID' }, bias: true }],
];

/**
 * The weight the written factors multiply out to (independently of the pass's arithmetic), in the original layout:
 * Tucker Σ_ab out[o,a]·core[a,b,t]·in[b,c]; spatial Σ_k horizontal[o,k,x]·vertical[k,c,y]; 1x1 Σ_k u[o,k]·v[k,c].
 */
function multipliedOut(out: Model, l: LowRankLayerReport): Float32Array {
  const [cout, cin, ...kernel] = l.shape as number[];
  const taps = kernel.reduce((a, b) => a * b, 1);
  const ws = l.nodes.map((n) => initializer(out, nodeNamed(out, n).inputs[1]!).toFloat32());
  const w = new Float64Array(cout! * cin! * taps);
  if (l.method === 'tucker') {
    const [rOut, rIn] = l.rank as [number, number];
    const [first, core, last] = ws as [Float32Array, Float32Array, Float32Array];
    for (let o = 0; o < cout!; o++) for (let c = 0; c < cin!; c++) for (let t = 0; t < taps; t++) {
      let s = 0;
      for (let a = 0; a < rOut; a++) for (let b = 0; b < rIn; b++) s += last[o * rOut + a]! * core[(a * rIn + b) * taps + t]! * first[b * cin! + c]!;
      w[(o * cin! + c) * taps + t] = s;
    }
  } else if (l.method === 'spatial') {
    const k = l.rank[0]!;
    const [kh, kw] = kernel as [number, number];
    const [vertical, horizontal] = ws as [Float32Array, Float32Array];
    for (let o = 0; o < cout!; o++) for (let c = 0; c < cin!; c++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
      let s = 0;
      for (let q = 0; q < k; q++) s += horizontal[(o * k + q) * kw + x]! * vertical[(q * cin! + c) * kh + y]!;
      w[((o * cin! + c) * kh + y) * kw + x] = s;
    }
  } else {
    const r = l.rank[0]!;
    const [v, u] = ws as [Float32Array, Float32Array];
    for (let o = 0; o < cout!; o++) for (let c = 0; c < cin!; c++) {
      let s = 0;
      for (let q = 0; q < r; q++) s += u[o * r + q]! * v[q * cin! + c]!;
      w[o * cin! + c] = s;
    }
  }
  return Float32Array.from(w);
}

/** The original with every decomposed weight replaced by what its factors multiply out to. */
function reconstructed(original: Model, result: { model: Model; report: { layers: LowRankLayerReport[] } }): Model {
  let m = original;
  for (const l of result.report.layers.filter((x) => x.factorized && x.opType === 'Conv')) m = withWeight(m, l.weight, l.shape, multipliedOut(result.model, l));
  return m;
}

test('full-rank Tucker-2 and spatial decompositions reproduce the outputs in onnxruntime (strides, pads, dilations, auto_pad)', async () => {
  for (const [label, spec] of GEOMETRIES) {
    const model = convModel(spec);
    for (const method of ['tucker', 'spatial'] as const) {
      const { model: out, report } = decomposeConv(model, { method, rankRatio: 1, force: true });
      const [l] = report.layers;
      assert.equal(l!.factorized, true, `${label} ${method}`);
      assert.deepEqual(l!.rank, l!.fullRank);
      assert.ok(Math.abs(l!.energy - 1) < 1e-9);
      assert.equal(out.graph.nodes.length, method === 'tucker' ? 3 : 2);
      // The bias goes on the last conv.
      const last = out.graph.nodes[out.graph.nodes.length - 1]!;
      assert.equal(last.input(2), spec.bias ? 'b' : undefined);
      const diff = await outputDifference(model, out, 2);
      assert.ok(diff < 1e-4, `${label}, ${method}: ${diff}`);
    }
  }
});

test('truncated ranks: the graph computes what the factors multiply out to, for every geometry and method', async () => {
  for (const [label, spec] of GEOMETRIES) {
    const model = convModel(spec);
    for (const method of ['tucker', 'spatial'] as const) {
      const result = decomposeConv(model, { method, rank: 2, force: true });
      const diff = await outputDifference(reconstructed(model, result), result.model, 2);
      assert.ok(diff < 1e-5, `${label}, ${method}: ${diff}`);
    }
  }
});

test('Tucker-2 ranks per mode from energy; the energy reported is what the approximation keeps; HOOI does not lose fit', () => {
  const spec: ConvSpec = { cin: 12, cout: 16, kernel: [3, 3], input: [10, 10], attrs: { pads: [1, 1, 1, 1] }, bias: true };
  const model = convModel(spec);
  const w = initializer(model, 'w').toFloat32();
  const mode0 = matrix(16, 12 * 9, Float64Array.from(w));
  const mode1 = matrix(12, 16 * 9);
  for (let o = 0; o < 16; o++) for (let c = 0; c < 12; c++) for (let t = 0; t < 9; t++) mode1.data[(c * 16 + o) * 9 + t] = w[(o * 12 + c) * 9 + t]!;
  const options: ConvDecompositionOptions = { energy: 0.8 };
  const result = decomposeConv(model, options);
  const [l] = result.report.layers;
  assert.deepEqual(l!.rank, [energyRank(svd(mode0).values, 0.8), energyRank(svd(mode1).values, 0.8)]);
  assert.deepEqual(l!.fullRank, [16, 12]);
  // Orthonormal factors: ||W||² = ||core||² + ||W - W'||², so the relative squared error is 1 - energy.
  const approx = multipliedOut(result.model, l!);
  const total = w.reduce((s, x) => s + x * x, 0);
  const error = w.reduce((s, x, i) => s + (x - approx[i]!) ** 2, 0);
  assert.ok(Math.abs(error / total - (1 - l!.energy)) < 1e-5, `${error / total} vs ${1 - l!.energy}`);
  const refined = decomposeConv(model, { ...options, iterations: 3 }).report.layers[0]!;
  assert.deepEqual(refined.rank, l!.rank);
  assert.ok(refined.energy >= l!.energy - 1e-9, `HOOI ${refined.energy} vs HOSVD ${l!.energy}`);
  // Parameters and MACs by hand (batch 1, 10x10 in and out): 16·12·9 before; 12·rIn + rOut·rIn·9 + rOut·16 after.
  const [rOut, rIn] = l!.rank as [number, number];
  assert.equal(l!.paramsBefore, 1728);
  assert.equal(l!.paramsAfter, 12 * rIn + rOut * rIn * 9 + rOut * 16);
  assert.equal(l!.macsBefore, 100 * 1728);
  assert.equal(l!.macsAfter, 100 * l!.paramsAfter);
});

test('weights of low multilinear rank: energy 1 finds the ranks, saves MACs and reproduces the outputs', async () => {
  // W = core [2, 3, 3, 3] ×₀ A [8, 2] ×₁ B [6, 3]
  const core = randomValues(2 * 3 * 9, 41), a = randomValues(8 * 2, 42), bm = randomValues(6 * 3, 43);
  const weight = new Float32Array(8 * 6 * 9);
  for (let o = 0; o < 8; o++) for (let c = 0; c < 6; c++) for (let t = 0; t < 9; t++) {
    let s = 0;
    for (let p = 0; p < 2; p++) for (let q = 0; q < 3; q++) s += a[o * 2 + p]! * core[(p * 3 + q) * 9 + t]! * bm[c * 3 + q]!;
    weight[(o * 6 + c) * 9 + t] = s;
  }
  const model = convModel({ cin: 6, cout: 8, kernel: [3, 3], input: [9, 9], attrs: { pads: [1, 1, 1, 1], strides: [2, 2] }, bias: true, weight });
  const { model: out, report } = decomposeConv(model, { energy: 1 });
  const [l] = report.layers;
  assert.deepEqual(l!.rank, [2, 3]);
  // 5x5 output, 9x9 input: 25·432 MACs before; 81·6·3 + 25·(3·2·9 + 2·8) after.
  assert.deepEqual([l!.macsBefore, l!.macsAfter], [25 * 432, 81 * 18 + 25 * 70]);
  assert.ok(await outputDifference(model, out, 2) < 1e-4);
  assert.deepEqual(out.graph.nodes.map((n) => [n.name, [...initializer(out, n.inputs[1]!).dims]]),
    [['conv.in', [3, 6, 1, 1]], ['conv.core', [2, 3, 3, 3]], ['conv.out', [8, 2, 1, 1]]]);
  assert.deepEqual(nodeNamed(out, 'conv.core').ints('strides'), [2, 2]);
  assert.deepEqual(nodeNamed(out, 'conv.in').ints('strides'), [1, 1]);
});

test('1x1 convolutions are split by SVD into two 1x1 convs; strides and pads go on the first', async () => {
  const model = convModel({ cin: 10, cout: 12, kernel: [1, 1], input: [6, 7], attrs: { strides: [2, 2], pads: [1, 0, 1, 2] }, bias: true });
  for (const method of ['tucker', 'spatial'] as const) {
    const full = decomposeConv(model, { method, rankRatio: 1, force: true });
    assert.equal(full.report.layers[0]!.method, 'svd');
    assert.ok(await outputDifference(model, full.model, 2) < 1e-4);
  }
  const cut = decomposeConv(model, { rank: 3 });
  const [l] = cut.report.layers;
  assert.equal(l!.paramsAfter, 3 * 22);
  assert.deepEqual(nodeNamed(cut.model, 'conv.v').ints('pads'), [1, 0, 1, 2]);
  assert.ok(await outputDifference(reconstructed(model, cut), cut.model, 2) < 1e-5);
});

test('1-D convolutions: Tucker-2 works, spatial separation is declined with the reason', async () => {
  const model = convModel({ cin: 6, cout: 5, kernel: [3], input: [20], attrs: { pads: [1, 1], strides: [2] }, bias: true });
  const tucker = decomposeConv(model, { method: 'tucker', rankRatio: 1, force: true });
  assert.ok(await outputDifference(model, tucker.model, 2) < 1e-4);
  const spatial = decomposeConv(model, { method: 'spatial', rankRatio: 0.5 });
  assert.equal(spatial.report.layers[0]!.factorized, false);
  assert.match(spatial.report.layers[0]!.reason!, /spatial separation needs a 2-D kernel, this one is \[3\]/);
});

test('grouped convolutions are left alone, and refused when a rule names them; bad ranks and weights are errors', () => {
  const model = convModel({ cin: 8, cout: 8, kernel: [3, 3], input: [6, 6], attrs: { group: 4, pads: [1, 1, 1, 1] } });
  // A wildcard rule: nothing to decompose, no error.
  const r = decomposeConv(model, { rankRatio: 0.5, layers: [{ pattern: '*', rank: 2 }] });
  assert.equal(r.report.layers.length, 0);
  assert.deepEqual(r.report.refused, [{ node: 'conv', opType: 'Conv', reason: 'Conv with group=4: only group=1 convolutions are decomposed' }]);
  assert.throws(() => decomposeConv(model, { rankRatio: 0.5, layers: [{ pattern: 'conv', rank: 2 }] }),
    /layer 'conv': Conv with group=4: only group=1 convolutions are decomposed/);
  const plain = convModel({ cin: 6, cout: 8, kernel: [3, 3], input: [6, 6] });
  assert.throws(() => decomposeConv(plain, { rank: 7 }), /layer 'conv': rank 7 is larger than its weight \[8, 6, 3, 3\] allows \(at most 6\)/);
  assert.throws(() => decomposeConv(plain, { rank: 2, iterations: -1 }), /HOOI iterations -1 must be a whole number >= 0/);
  const broken = convModel({ cin: 6, cout: 8, kernel: [3, 3], input: [6, 6], weight: Float32Array.from(randomValues(432, 1), (v, i) => (i === 5 ? Infinity : v)) });
  assert.throws(() => decomposeConv(broken, { rank: 2 }), /layer 'conv': weight 'w' holds Infinity at element 5/);
  assert.equal(decomposeConv(broken, { rank: 2, exclude: ['conv'] }).report.layers[0]!.reason, 'excluded');
});

test('a PyTorch ResNet and a depthwise net: Gemm and convs in one pass; grouped convs skipped; outputs follow the factors', async () => {
  for (const name of ['resnet_small', 'dwconv']) {
    const model = loadModel(fixture(`${name}.onnx`));
    for (const conv of ['tucker', 'spatial'] as const) {
      const result = lowRank(model, { rankRatio: 0.5, conv });
      const layers = result.report.layers;
      assert.ok(layers.some((l) => l.opType === 'Gemm') && layers.filter((l) => l.opType === 'Conv' && l.factorized).length >= 2, `${name} ${conv}`);
      if (name === 'dwconv') {
        assert.ok(!layers.some((l) => l.node.includes('block1.0')), 'the depthwise conv is not a candidate');
        assert.deepEqual(result.report.refused.map((r) => r.node), ['/block1/block1.0/Conv', '/block2/block2.0/Conv']);
      }
      // Dense layers too: multiply out every factorized weight.
      let reference = reconstructed(model, result);
      for (const l of layers.filter((x) => x.factorized && x.opType === 'Gemm')) {
        const [u, v] = l.nodes.map((n) => initializer(result.model, nodeNamed(result.model, n).inputs[1]!).toFloat32());
        const [rows, cols] = l.shape as [number, number];
        const r = l.rank[0]!;
        const w = new Float32Array(rows * cols); // transB=1: [N, K] = v [N, r] · u [r, K]
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) { let s = 0; for (let q = 0; q < r; q++) s += v![i * r + q]! * u![q * cols + j]!; w[i * cols + j] = s; }
        reference = withWeight(reference, l.weight, l.shape, w);
      }
      const diff = await outputDifference(reference, result.model, 2);
      assert.ok(diff < 1e-4, `${name} ${conv}: ${diff}`);
      assert.ok(result.report.total.macsAfter! < result.report.total.macsBefore!);
    }
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, floatAttr, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model } from '../../../src/core/ir.js';
import { encodeModel } from '../../../src/core/codec.js';
import { constantsToInitializers } from '../../../src/core/weights.js';
import { energyRank, factorizeLinear, lowRank, matrix, svd } from '../../../src/compress/lowrank/index.js';
import type { LowRankLayerReport } from '../../../src/compress/lowrank/index.js';
import { loadModel } from '../../../src/node/io.js';
import { fixture } from '../../fixtures/fixtures.js';
import { initializer, lowRankWeight, matmul, nodeNamed, outputDifference, randomValues, withWeight } from './helpers.js';

/**
 * x [batch, 48] -> MatMul W1 [48, 40] + b1 -> Relu -> Gemm(W2 [32, 40], transB=1, C [32], alpha 0.5, beta 2) -> Relu
 * -> Gemm(W3 [32, 24], C [24]) -> y. Weights of ranks 4, 5 and 3 when `exact`, else random (full rank).
 */
function mlp(exact: boolean): Model {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, ['batch', 48]);
  const w1 = b.floats('w1', [48, 40], exact ? lowRankWeight(48, 40, 4, 1) : randomValues(48 * 40, 1, 0.3));
  const w2 = b.floats('w2', [32, 40], exact ? lowRankWeight(32, 40, 5, 3) : randomValues(32 * 40, 3, 0.3));
  const w3 = b.floats('w3', [32, 24], exact ? lowRankWeight(32, 24, 3, 5) : randomValues(32 * 24, 5, 0.3));
  const h1 = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, w1], {}, { name: 'fc1' }), b.floats('b1', [40], randomValues(40, 7))])]);
  const h2 = b.op('Relu', [b.op('Gemm', [h1, w2, b.floats('b2', [32], randomValues(32, 8))], { transB: 1, alpha: 0.5, beta: floatAttr(2) }, { name: 'fc2' })]);
  b.output(b.op('Gemm', [h2, w3, b.floats('b3', [24], randomValues(24, 9))], {}, { name: 'fc3' }, ), DataType.FLOAT, ['batch', 24]);
  return modelOf(b.graph, { '': 17 });
}

const layer = (layers: LowRankLayerReport[], node: string) => layers.find((l) => l.node === node)!;

/**
 * The original model with each factorized weight replaced by the product of the two factors the pass wrote (in the
 * node's layout): it must compute what the factorized graph computes.
 */
function reconstructed(original: Model, result: { model: Model; report: { layers: LowRankLayerReport[] } }): Model {
  let m = original;
  for (const l of result.report.layers.filter((x) => x.factorized)) {
    const [first, second] = l.nodes.map((n) => nodeNamed(result.model, n));
    const left = initializer(result.model, first!.inputs[1]!), right = initializer(result.model, second!.inputs[1]!);
    const r = l.rank[0]!;
    const [rows, cols] = l.shape as [number, number];
    const transposed = first!.int('transB', 0) === 1;
    // transB=1: left [r, K], right [N, r], weight [N, K] = right·left; else left [K, r], right [r, N], weight = left·right.
    const data = transposed ? matmul(right.toFloat32(), left.toFloat32(), rows, r, cols) : matmul(left.toFloat32(), right.toFloat32(), rows, r, cols);
    m = withWeight(m, l.weight, l.shape, data);
  }
  return m;
}

test('exact low-rank weights: energy 1 finds each rank, and the factorized model computes what the original does', async () => {
  const model = mlp(true);
  const before = encodeModel(model).bytes;
  const { model: out, report } = factorizeLinear(model, { energy: 1 });
  assert.deepEqual(encodeModel(model).bytes, before, 'the input model is unchanged');
  assert.deepEqual(report.layers.map((l) => [l.node, l.rank[0], l.factorized]), [['fc1', 4, true], ['fc2', 5, true], ['fc3', 3, true]]);
  // Parameters and MACs per sample (batch 1), by hand: K·N before, r(K+N) after.
  assert.deepEqual(report.layers.map((l) => [l.paramsBefore, l.paramsAfter, l.macsBefore, l.macsAfter]),
    [[1920, 352, 1920, 352], [1280, 360, 1280, 360], [768, 168, 768, 168]]);
  assert.deepEqual(report.total, { paramsBefore: 3968, paramsAfter: 880, macsBefore: 3968, macsAfter: 880, factorized: 3 });
  for (const l of report.layers) assert.ok(Math.abs(l.energy - 1) < 1e-9, `${l.node} energy ${l.energy}`);
  assert.ok(await outputDifference(model, out) < 1e-4);

  // The graph: MatMul -> MatMul; Gemm(alpha) -> Gemm(C, beta) keeping transB and the output names; old weights gone.
  const ops = out.graph.nodes.map((n) => `${n.name}:${n.opType}`);
  assert.deepEqual(ops.filter((o) => o.startsWith('fc')), ['fc1.u:MatMul', 'fc1.v:MatMul', 'fc2.u:Gemm', 'fc2.v:Gemm', 'fc3.u:Gemm', 'fc3.v:Gemm']);
  const [u2, v2] = [nodeNamed(out, 'fc2.u'), nodeNamed(out, 'fc2.v')];
  assert.equal(u2.float('alpha'), 0.5);
  assert.equal(u2.input(2), undefined);
  assert.equal(v2.float('beta'), 2);
  assert.equal(v2.float('alpha'), undefined);
  assert.equal(v2.input(2), 'b2');
  assert.equal(u2.int('transB'), 1);
  assert.deepEqual([...initializer(out, u2.inputs[1]!).dims], [5, 40]);
  assert.deepEqual([...initializer(out, v2.inputs[1]!).dims], [32, 5]);
  assert.deepEqual(v2.outputs, model.graph.nodes.find((n) => n.name === 'fc2')!.outputs);
  for (const w of ['w1', 'w2', 'w3']) assert.ok(!out.graph.initializers.has(w), `${w} dropped`);
});

test('rank ratio and per-layer ranks on full-rank weights: the factors are the truncated SVD, balanced', async () => {
  const model = mlp(false);
  const { model: out, report } = factorizeLinear(model, { rankRatio: 0.25, layers: [{ pattern: 'fc3', rank: 6 }, { pattern: 'w2', energy: 0.5 }] });
  const fc1 = layer(report.layers, 'fc1'), fc2 = layer(report.layers, 'fc2'), fc3 = layer(report.layers, 'fc3');
  assert.deepEqual(fc1.rank, [10]); // round(0.25 · 40)
  assert.deepEqual(fc3.rank, [6]);
  // Energy: the smallest rank keeping half of the sum of squares (the rule matched the weight's name).
  const w2 = initializer(model, 'w2').toFloat32();
  const values = svd(matrix(32, 40, Float64Array.from(w2))).values;
  assert.deepEqual(fc2.rank, [energyRank(values, 0.5)]);
  assert.ok(fc2.energy >= 0.5 && fc2.energy - (values[fc2.rank[0]! - 1]! ** 2) / values.reduce((s, v) => s + v * v, 0) < 0.5);
  // The factorized graph computes exactly what the original does with each weight replaced by left·right ...
  assert.ok(await outputDifference(reconstructed(model, { model: out, report }), out) < 1e-5);
  // ... and left·right is the rank-r truncation: its squared error is the discarded energy.
  const [u, v] = fc1.nodes.map((n) => initializer(out, nodeNamed(out, n).inputs[1]!).toFloat32());
  const product = matmul(u!, v!, 48, 10, 40);
  const w1 = initializer(model, 'w1').toFloat32();
  const s1 = svd(matrix(48, 40, Float64Array.from(w1))).values;
  const err = product.reduce((s, x, i) => s + (x - w1[i]!) ** 2, 0);
  const discarded = s1.slice(10).reduce((s, x) => s + x * x, 0);
  assert.ok(Math.abs(err - discarded) < 1e-4 * discarded, `${err} vs ${discarded}`);
  // Balanced: both factors carry √σ, so column c of U√S and row c of √SVᵀ have the same norm.
  for (let c = 0; c < 10; c++) {
    let a = 0, b = 0;
    for (let i = 0; i < 48; i++) a += u![i * 10 + c]! ** 2;
    for (let j = 0; j < 40; j++) b += v![c * 40 + j]! ** 2;
    assert.ok(Math.abs(a - s1[c]!) < 1e-4 * s1[c]! && Math.abs(b - s1[c]!) < 1e-4 * s1[c]!);
  }
});

test('layers that would not shrink, excluded ones and a minimum saving leave the layer alone, with the reason', () => {
  const model = mlp(false);
  // rank ratio 0.9 of fc1: r = 36, 36·88 >= 1920; fc3 excluded.
  const { model: out, report } = factorizeLinear(model, { rankRatio: 0.9, layers: [{ pattern: 'fc2', rankRatio: 0.25 }], exclude: ['fc3'] });
  const fc1 = layer(report.layers, 'fc1'), fc2 = layer(report.layers, 'fc2'), fc3 = layer(report.layers, 'fc3');
  assert.equal(fc1.factorized, false);
  assert.match(fc1.reason!, /rank 36 saves nothing/);
  assert.equal(fc1.paramsAfter, fc1.paramsBefore);
  assert.equal(fc2.factorized, true);
  assert.equal(fc3.reason, 'excluded');
  assert.ok(out.graph.nodes.some((n) => n.name === 'fc1') && out.graph.nodes.some((n) => n.name === 'fc3'));
  // fc2 at rank 8 saves 1 - 8·72/1280 = 55%: under a 60% minimum it stays.
  const strict = factorizeLinear(model, { rankRatio: 0.25, minMacsSaved: 0.6 });
  assert.match(layer(strict.report.layers, 'fc2').reason!, /saves 55\.0% of MACs, under the minimum/);
  // Only rules: layers no rule matches are reported and kept.
  const ruled = factorizeLinear(model, { layers: [{ pattern: 'fc1', rank: 4 }] });
  assert.deepEqual(ruled.report.layers.map((l) => l.factorized), [true, false, false]);
  assert.equal(layer(ruled.report.layers, 'fc2').reason, 'no rule matches it');
  // force: even full rank is factorized (and exact).
  const forced = factorizeLinear(model, { rankRatio: 1, force: true });
  assert.deepEqual(forced.report.layers.map((l) => l.rank[0]), [40, 32, 24]);
  assert.ok(forced.report.layers.every((l) => l.factorized && Math.abs(l.energy - 1) < 1e-12));
});

test('full-rank factorization reproduces the outputs in onnxruntime', async () => {
  const model = mlp(false);
  const forced = factorizeLinear(model, { rankRatio: 1, force: true });
  assert.ok(await outputDifference(model, forced.model) < 1e-4);
});

test('bad options are one-line errors naming the problem', () => {
  const model = mlp(false);
  const fails = (options: Parameters<typeof factorizeLinear>[1], pattern: RegExp) => assert.throws(() => factorizeLinear(model, options), (e: Error) => {
    assert.match(e.message, pattern);
    assert.equal(e.name, 'LowRankError');
    assert.ok(!e.message.includes('\n'));
    return true;
  });
  fails({ energy: 1.5 }, /energy 1\.5 is outside \(0, 1\]/);
  fails({ energy: 0 }, /energy 0 is outside/);
  fails({ rankRatio: 1.2 }, /rank ratio 1\.2 is outside/);
  fails({ energy: 0.9, rankRatio: 0.5 }, /exactly one of energy, rank ratio or rank \(got energy and rankRatio\)/);
  fails({}, /give an energy, a rank ratio or a rank/);
  fails({ energy: 0.9, layers: [{ pattern: 'fc2', rank: 33 }] }, /layer 'fc2': rank 33 is larger than its weight \[32, 40\] allows \(at most 32\)/);
  fails({ energy: 0.9, layers: [{ pattern: 'fc2', rank: 2.5 }] }, /rank 2\.5 must be a positive whole number/);
  fails({ energy: 0.9, layers: [{ pattern: 'conv*', rank: 2 }] }, /layers pattern 'conv\*' matches no Gemm\/MatMul layer \(Gemm\/MatMul layers: fc1, fc2, fc3\)/);
  fails({ energy: 0.9, exclude: ['fc9'] }, /exclude pattern 'fc9' matches no/);
  fails({ energy: 0.9, minMacsSaved: 1 }, /minimum MAC saving 1 is outside \[0, 1\)/);
  const nan = withWeight(model, 'w3', [32, 24], Float32Array.from(randomValues(32 * 24, 1), (v, i) => (i === 7 ? NaN : v)));
  assert.throws(() => factorizeLinear(nan, { rankRatio: 0.1 }), /layer 'fc3': weight 'w3' holds NaN at element 7/);
});

test('Gemm with transA, and a MatMul with a batched input', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [36, 'batch']);
  const w = b.floats('w', [36, 30], lowRankWeight(36, 30, 3, 21));
  const y = b.op('Gemm', [x, w, b.floats('c', [30], randomValues(30, 22))], { transA: 1, alpha: floatAttr(1.5) }, { name: 'g' });
  const z = b.op('MatMul', [b.op('Reshape', [y, b.int64s('shape', [1, -1, 30])]), b.floats('m', [30, 20], lowRankWeight(30, 20, 2, 23))], {}, { name: 'mm' });
  b.output(z, DataType.FLOAT);
  const model = modelOf(b.graph, { '': 17 });
  const { model: out, report } = factorizeLinear(model, { energy: 1 });
  assert.deepEqual(report.layers.map((l) => l.rank[0]), [3, 2]);
  assert.equal(nodeNamed(out, 'g.u').int('transA'), 1);
  assert.equal(nodeNamed(out, 'g.u').float('alpha'), 1.5);
  // MACs per run with batch 1: one row each.
  assert.deepEqual(report.layers.map((l) => l.macsBefore), [1 * 36 * 30, 1 * 30 * 20]);
  assert.ok(await outputDifference(model, out, 4) < 1e-4);
});

test('PyTorch exports, opset 13 and opset 9 with Constant weights: factorized graphs run and match their factors', async () => {
  for (const name of ['mlp', 'mlp_opset9_constants']) {
    const model = loadModel(fixture(`${name}.onnx`));
    const result = lowRank(model, { rankRatio: 0.25 });
    assert.deepEqual(result.report.layers.map((l) => [l.rank[0], l.factorized]), [[16, true], [8, true], [3, true]], name);
    if (name === 'mlp_opset9_constants') {
      // Before opset 11 Gemm needs C: the first factor gets a zero bias.
      const first = nodeNamed(result.model, '/fc1/Gemm.u');
      assert.deepEqual([...initializer(result.model, first.inputs[2]!).toFloat32()], [0]);
    }
    assert.ok(await outputDifference(reconstructed(constantsToInitializers(model), result), result.model) < 1e-5, name);
  }
});

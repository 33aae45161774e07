import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, floatAttr, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Model, Node } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { validateModel } from '../../../src/core/validate.js';
import { foldBatchNorm } from '../../../src/compress/optimize/fold-batchnorm.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { loadModel } from '../../../src/node/io.js';
import { randomInputs, seededRandom } from '../../../src/runtime/inputs.js';
import { fixture } from '../../fixtures/fixtures.js';
import { runOnce } from '../../helpers/run.js';

/** Non-trivial statistics for every BatchNormalization: scale in [0.5, 1.5], bias and mean in [-0.5, 0.5], var in [0.2, 2.2]. */
function randomizeBatchNorms(model: Model, seed: number): Model {
  const out = model.clone();
  const rand = seededRandom(seed);
  for (const n of out.graph.nodes) {
    if (n.opType !== 'BatchNormalization') continue;
    const ranges: [number, number][] = [[0.5, 1.5], [-0.5, 0.5], [-0.5, 0.5], [0.2, 2.2]];
    n.inputs.slice(1, 5).forEach((name, i) => {
      const t = out.graph.initializers.get(name)!;
      const [lo, hi] = ranges[i]!;
      out.graph.initializers.set(name, Tensor.fromFloat32(name, t.dims, Float32Array.from({ length: t.size }, () => lo + (hi - lo) * rand())));
    });
  }
  return out;
}

/** Largest |a - b| relative to the largest |b|. */
function relativeError(a: Tensor, b: Tensor): number {
  const x = a.toFloat32(), y = b.toFloat32();
  let diff = 0, scale = 0;
  for (let i = 0; i < x.length; i++) { diff = Math.max(diff, Math.abs(x[i]! - y[i]!)); scale = Math.max(scale, Math.abs(y[i]!)); }
  return diff / scale;
}

async function assertSameOutputs(original: Model, folded: Model, batch: number, what: string): Promise<void> {
  const feeds = randomInputs(original, { batch, seed: 3 });
  const [a, b] = [await runOnce(original, feeds), await runOnce(folded, feeds)];
  for (const name of Object.keys(a)) {
    const err = relativeError(b[name]!, a[name]!);
    // float32 rounding of the folded weights and of a reordered sum: a few ulps per layer, compounding over the depth.
    assert.ok(err < 1e-4, `${what}: output '${name}' differs by ${err} (relative to its largest value)`);
  }
}

const count = (m: Model, op: string) => m.graph.nodes.filter((n) => n.opType === op).length;

for (const arch of ['resnet-8', 'resnet-20'] as const) {
  test(`${arch}: every BatchNorm folds into its Conv; outputs match onnxruntime on the unfolded model`, async () => {
    const model = randomizeBatchNorms(buildArch(arch, { inputShape: [1, 28, 28], seed: 4 }), 5);
    const bns = count(model, 'BatchNormalization');
    const { model: folded, folded: names, skipped } = foldBatchNorm(model);
    assert.equal(names.length, bns);
    assert.deepEqual(skipped, []);
    assert.equal(count(folded, 'BatchNormalization'), 0);
    assert.equal(count(folded, 'Conv'), count(model, 'Conv'));
    validateModel(folded);
    // Every BatchNorm parameter is gone; the input model is untouched.
    for (const n of model.graph.nodes.filter((x) => x.opType === 'BatchNormalization')) {
      for (const p of n.inputs.slice(1)) assert.ok(!folded.graph.initializers.has(p), `${p} left behind`);
    }
    assert.equal(count(model, 'BatchNormalization'), bns);
    await assertSameOutputs(model, folded, 4, arch);
  });
}

/** test/fixtures/resnet_small.onnx (BatchNorms already folded by PyTorch's export) with a BatchNorm put back after every Conv. */
function withBatchNorms(model: Model): Model {
  const out = model.clone();
  const b = new GraphBuilder(out.graph);
  const rand = seededRandom(9);
  const vec = (name: string, n: number, lo: number, hi: number) => b.floats(name, [n], Float32Array.from({ length: n }, () => lo + (hi - lo) * rand()));
  const nodes: Node[] = [];
  for (const conv of model.graph.nodes) {
    const clone = out.graph.nodes.find((n) => n.name === conv.name)!;
    nodes.push(clone);
    if (conv.opType !== 'Conv') continue;
    const m = out.graph.initializers.get(conv.inputs[1]!)!.dims[0]!;
    const y = clone.outputs[0]!;
    const pre = `${y}_pre_bn`;
    clone.outputs[0] = pre;
    const params = [vec(`${conv.name}.bn.scale`, m, 0.5, 1.5), vec(`${conv.name}.bn.bias`, m, -0.3, 0.3), vec(`${conv.name}.bn.mean`, m, -0.3, 0.3), vec(`${conv.name}.bn.var`, m, 0.3, 2)];
    nodes.push(new Node('BatchNormalization', [pre, ...params], [y], `${conv.name}/bn`, '', [{ name: 'epsilon', type: 'FLOAT', value: 1e-3 }]));
  }
  out.graph.nodes = nodes;
  return out;
}

test('test/fixtures/resnet_small.onnx: nothing to fold as exported; with BatchNorms put back, they fold and outputs match', async () => {
  const model = await loadModel(fixture('resnet_small.onnx'));
  const plain = foldBatchNorm(model);
  assert.deepEqual(plain.folded, []);
  assert.equal(plain.model.graph.nodes.length, model.graph.nodes.length);

  const bn = withBatchNorms(model);
  validateModel(bn);
  const { model: folded, folded: names } = foldBatchNorm(bn);
  assert.equal(names.length, 8);
  assert.equal(count(folded, 'BatchNormalization'), 0);
  assert.deepEqual(folded.graph.nodes.map((n) => n.opType), model.graph.nodes.map((n) => n.opType));
  await assertSameOutputs(bn, folded, 2, 'resnet_small');
});

test('depthwise and grouped Conv, and Gemm with transB and beta, fold exactly; shared or training-mode BatchNorms are skipped', async () => {
  const b = new GraphBuilder();
  const rand = seededRandom(2);
  const r = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
  const bnParams = (name: string, n: number) => [b.floats(`${name}.s`, [n], r(n, 0.5, 2)), b.floats(`${name}.b`, [n], r(n)), b.floats(`${name}.m`, [n], r(n)), b.floats(`${name}.v`, [n], r(n, 0.1, 3))];
  const x = b.input('x', DataType.FLOAT, ['n', 6, 8, 8]);
  // Depthwise 3x3 (group 6), no bias.
  const dw = b.op('Conv', [x, b.floats('dw.w', [6, 1, 3, 3], r(54))], { group: 6, pads: [1, 1, 1, 1] }, { name: 'dw' });
  const dwBn = b.op('BatchNormalization', [dw, ...bnParams('bn_dw', 6)], { epsilon: floatAttr(1e-5) }, { name: 'bn_dw' });
  // Grouped 1x1 (group 2, 6 -> 4) with a bias.
  const g = b.op('Conv', [dwBn, b.floats('g.w', [4, 3, 1, 1], r(12)), b.floats('g.b', [4], r(4))], { group: 2 }, { name: 'grouped' });
  const gBn = b.op('BatchNormalization', [g, ...bnParams('bn_g', 4)], {}, { name: 'bn_g' });
  const flat = b.op('Flatten', [gBn], {}, { name: 'flatten' });
  // Gemm with transB, alpha, beta and a [1, N] bias.
  const fc = b.op('Gemm', [flat, b.floats('fc.w', [5, 256], r(1280, -0.1, 0.1)), b.floats('fc.b', [1, 5], r(5))], { transB: 1, alpha: 0.5, beta: floatAttr(2) }, { name: 'fc' });
  const fcBn = b.op('BatchNormalization', [fc, ...bnParams('bn_fc', 5)], {}, { name: 'bn_fc' });
  // Gemm with B [K, N] and no bias.
  const fc2 = b.op('Gemm', [fcBn, b.floats('fc2.w', [5, 3], r(15))], {}, { name: 'fc2' });
  const fc2Bn = b.op('BatchNormalization', [fc2, ...bnParams('bn_fc2', 3)], {}, { name: 'bn_fc2' });
  // A Conv whose output is also read elsewhere: its BatchNorm must stay.
  const shared = b.op('Conv', [x, b.floats('s.w', [2, 6, 1, 1], r(12))], {}, { name: 'shared' });
  const sharedBn = b.op('BatchNormalization', [shared, ...bnParams('bn_s', 2)], {}, { name: 'bn_shared' });
  const sum = b.op('Add', [sharedBn, shared], {}, { name: 'add' });
  b.output(fc2Bn, DataType.FLOAT);
  b.output(sum, DataType.FLOAT);
  const model = modelOf(b.graph, { '': 17 });
  const { model: folded, folded: names, skipped } = foldBatchNorm(model);
  assert.deepEqual(names, ['bn_dw', 'bn_g', 'bn_fc', 'bn_fc2']);
  assert.equal(skipped.length, 1);
  assert.equal(skipped[0]!.node, 'bn_shared');
  assert.match(skipped[0]!.reason, /read by more than the BatchNormalization/);
  const fcNode = folded.graph.nodes.find((n) => n.name === 'fc')!;
  assert.equal(fcNode.float('beta', 1), 1, 'beta is folded into the bias');
  assert.equal(fcNode.float('alpha', 1), 0.5);
  await assertSameOutputs(model, folded, 3, 'small graph');
});

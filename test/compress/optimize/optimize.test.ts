import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../../src/core/builder.js';
import { DataType } from '../../../src/core/dtype.js';
import { Dim, Model } from '../../../src/core/ir.js';
import { Tensor } from '../../../src/core/tensor.js';
import { validateModel } from '../../../src/core/validate.js';
import { optimizeModel } from '../../../src/compress/optimize/index.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { loadModel } from '../../../src/node/io.js';
import { randomInputs, seededRandom } from '../../../src/runtime/inputs.js';
import { fixture } from '../../fixtures/fixtures.js';
import { runOnce } from '../../helpers/run.js';

const count = (m: Model, op: string) => m.graph.nodes.filter((n) => n.opType === op).length;

/** Largest |a - b| relative to the largest |a|. */
function relativeError(a: Tensor, b: Tensor): number {
  assert.deepEqual([...b.dims], [...a.dims]);
  const x = a.toFloat32(), y = b.toFloat32();
  let diff = 0, scale = 0;
  for (let i = 0; i < x.length; i++) { diff = Math.max(diff, Math.abs(x[i]! - y[i]!)); scale = Math.max(scale, Math.abs(x[i]!)); }
  return scale > 0 ? diff / scale : diff;
}

async function assertSameOutputs(original: Model, optimized: Model, batch: number | undefined, what: string, tolerance = 1e-5): Promise<void> {
  const feeds = randomInputs(original, { batch, seed: 11 });
  const [a, b] = [await runOnce(original, feeds), await runOnce(optimized, feeds)];
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort(), `${what}: output names`);
  for (const name of Object.keys(a)) {
    const err = relativeError(a[name]!, b[name]!);
    assert.ok(err <= tolerance, `${what}: output '${name}' differs by ${err} (relative to its largest value)`);
  }
}

/** Non-trivial statistics for every BatchNormalization so folding changes the weights. */
function randomizeBatchNorms(model: Model, seed: number): Model {
  const out = model.clone();
  const rand = seededRandom(seed);
  const ranges: [number, number][] = [[0.5, 1.5], [-0.5, 0.5], [-0.5, 0.5], [0.2, 2.2]];
  for (const n of out.graph.nodes) {
    if (n.opType !== 'BatchNormalization') continue;
    n.inputs.slice(1, 5).forEach((name, i) => {
      const t = out.graph.initializers.get(name)!;
      const [lo, hi] = ranges[i]!;
      out.graph.initializers.set(name, Tensor.fromFloat32(name, t.dims, Float32Array.from({ length: t.size }, () => lo + (hi - lo) * rand())));
    });
  }
  return out;
}

for (const name of ['resnet_small', 'mlp', 'dwconv', 'mlp_opset9_constants'] as const) {
  test(`fixture ${name}: optimized model validates, is no larger and computes the same outputs`, async () => {
    const model = loadModel(fixture(`${name}.onnx`));
    const nodesBefore = model.graph.nodes.length;
    const { model: optimized, report } = optimizeModel(model);
    validateModel(optimized);
    assert.equal(model.graph.nodes.length, nodesBefore, 'the input model is not changed');
    assert.equal(report.nodesBefore, nodesBefore);
    assert.equal(report.nodesAfter, optimized.graph.nodes.length);
    assert.ok(report.nodesAfter <= report.nodesBefore);
    assert.equal(count(optimized, 'Identity') + count(optimized, 'Dropout'), 0);
    assert.equal(count(optimized, 'Constant'), 0, 'constant weights become initializers');
    if (name === 'mlp_opset9_constants') {
      assert.ok(count(model, 'Constant') > 0);
      assert.equal(report.constantsToInitializers, count(model, 'Constant'));
    }
    if (name === 'dwconv') {
      // Every BatchNorm folds into its Conv, and the Clip bounds (one Constant pair per Clip) are shared.
      assert.equal(report.foldedBatchNorms, count(model, 'BatchNormalization'));
      assert.equal(report.nodesAfter, nodesBefore - count(model, 'BatchNormalization') - count(model, 'Constant'));
      assert.equal(report.dedupedInitializers, count(model, 'Constant') - 2);
      assert.ok(report.bytesAfter < report.bytesBefore);
    }
    await assertSameOutputs(model, optimized, 2, name);
  });
}

test('resnet-8 with trained-looking BatchNorm statistics: every BN folds, outputs match', async () => {
  const model = randomizeBatchNorms(buildArch('resnet-8', { inputShape: [1, 28, 28], classes: 10, seed: 2 }), 3);
  const bns = count(model, 'BatchNormalization');
  assert.ok(bns > 0);
  const { model: optimized, report } = optimizeModel(model);
  validateModel(optimized);
  assert.equal(report.foldedBatchNorms, bns);
  assert.deepEqual(report.batchNormsKept, []);
  assert.equal(count(optimized, 'BatchNormalization'), 0);
  assert.equal(report.nodesAfter, report.nodesBefore - bns - report.removedIdentities - report.removedDropouts - report.foldedConstantNodes - report.removedNodes);
  assert.ok(report.bytesAfter < report.bytesBefore);
  await assertSameOutputs(model, optimized, 3, 'resnet-8');

  const kept = optimizeModel(model, { foldBatchNorm: false });
  assert.equal(count(kept.model, 'BatchNormalization'), bns);
  assert.equal(kept.report.foldedBatchNorms, 0);
});

/**
 * x -> Identity -> MatMul(W1) -> Dropout -> MatMul(W2, a byte copy of W1) -> Reshape to [dim, -1] where the target
 * is computed by Shape -> Gather -> Unsqueeze -> Concat -> Identity -> graph output; plus a dead Relu, a dead
 * Constant and an unused initializer.
 */
function handBuilt(batch: Dim, gatherIndex: number): Model {
  const b = new GraphBuilder();
  const rand = seededRandom(5);
  const weights = Float32Array.from({ length: 16 }, () => rand() * 2 - 1);
  const x = b.input('x', DataType.FLOAT, [batch, 4]);
  const w1 = b.floats('W1', [4, 4], weights);
  const w2 = b.floats('W2', [4, 4], weights.slice());
  b.floats('unused', [3], [1, 2, 3]);
  const xi = b.op('Identity', [x]);
  const a = b.op('MatMul', [xi, w1]);
  const d = b.op('Dropout', [a]);
  const m = b.op('MatMul', [d, w2]);
  b.op('Relu', [x]); // dead
  b.node('Constant', [], { value: Tensor.fromFloat32('', [2], [1, 2]) }); // dead
  const shape = b.op('Shape', [m]);
  const dim = b.op('Gather', [shape, b.int64s('index', [gatherIndex], [])], { axis: 0 });
  const unsqueezed = b.op('Unsqueeze', [dim, b.int64s('axes', [0])]);
  const target = b.op('Concat', [unsqueezed, b.int64s('minus_one', [-1])], { axis: 0 });
  const reshaped = b.op('Reshape', [m, target]);
  b.op('Identity', [reshaped], {}, { output: 'y' });
  b.output('y', DataType.FLOAT);
  return modelOf(b.graph, { '': 17 });
}

test('hand-built graph: identities, dropout, duplicate weight, dead nodes and a static shape chain all go', async () => {
  const model = handBuilt(2, 0);
  assert.equal(model.graph.nodes.length, 12);
  const { model: optimized, report } = optimizeModel(model);
  validateModel(optimized);
  assert.equal(report.removedIdentities, 2);
  assert.equal(report.removedDropouts, 1);
  assert.equal(report.dedupedInitializers, 1);
  assert.equal(report.dedupedBytes, 16 * 4);
  assert.equal(report.foldedConstantNodes, 4, 'Shape, Gather, Unsqueeze and Concat');
  assert.equal(report.constantsToInitializers, 1);
  assert.deepEqual(optimized.graph.nodes.map((n) => n.opType), ['MatMul', 'MatMul', 'Reshape']);
  assert.equal(report.removedNodes, 1, 'the dead Relu');
  // Both MatMuls read one weight; the Reshape target is a constant [2, -1]; the output keeps its name.
  const [mm1, mm2, reshape] = optimized.graph.nodes;
  assert.equal(mm1!.inputs[1], mm2!.inputs[1]);
  assert.deepEqual(optimized.graph.initializers.get(reshape!.inputs[1]!)!.toNumbers(), [2, -1]);
  assert.equal(reshape!.outputs[0], 'y');
  assert.deepEqual([...optimized.graph.initializers.keys()].sort(), [mm1!.inputs[1]!, reshape!.inputs[1]!].sort(), 'only the live initializers are left');
  assert.equal(model.graph.nodes.length, 12, 'the input model is not changed');
  await assertSameOutputs(model, optimized, undefined, 'hand-built');
});

test('symbolic batch: only the static part of a shape chain folds', async () => {
  const model = handBuilt('N', 1);
  const { model: optimized, report } = optimizeModel(model);
  validateModel(optimized);
  // Gather picks the static dim 4, so Gather, Unsqueeze and Concat fold; Shape of a batch-sized value does not, and
  // then nothing reads it.
  assert.equal(report.foldedConstantNodes, 3);
  assert.deepEqual(optimized.graph.nodes.map((n) => n.opType), ['MatMul', 'MatMul', 'Reshape']);
  await assertSameOutputs(model, optimized, 3, 'symbolic batch');
});

test('each step can be switched off', () => {
  const model = handBuilt(2, 0);
  const { model: optimized, report } = optimizeModel(model, {
    foldBatchNorm: false, foldConstants: false, removeIdentity: false, removeDropout: false, dedupeInitializers: false, removeUnused: false,
  });
  assert.equal(optimized.graph.nodes.length, model.graph.nodes.length);
  assert.equal(report.foldedConstantNodes + report.removedIdentities + report.removedDropouts + report.dedupedInitializers + report.removedNodes, 0);
});

test('Identity and Dropout that must stay: graph output of a graph input, training-mode Dropout, read mask', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, 3]);
  b.op('Identity', [x], {}, { output: 'passthrough' });
  b.output('passthrough', DataType.FLOAT);
  const training = b.initializer(new Tensor('training', DataType.BOOL, [], Uint8Array.from([1])));
  b.node('Dropout', [x, b.floats('ratio', [], [0.5]), training], {}, { outputs: ['dropped', 'mask'] });
  b.output('dropped', DataType.FLOAT);
  const [kept, keptMask] = b.node('Dropout', [x], {}, { outputs: ['kept', 'kept_mask'] });
  const relu = b.op('Relu', [kept!]);
  const maskFloat = b.op('Cast', [keptMask!], { to: DataType.FLOAT });
  b.op('Add', [relu, maskFloat], {}, { output: 'z' });
  b.output('z', DataType.FLOAT);
  const model = modelOf(b.graph, { '': 17 });
  const { model: optimized, report } = optimizeModel(model);
  validateModel(optimized);
  assert.equal(report.removedIdentities, 0);
  assert.equal(report.removedDropouts, 0);
  assert.equal(count(optimized, 'Identity'), 1);
  assert.equal(count(optimized, 'Dropout'), 2);
  // The inference-mode Dropout whose mask is read: compare its branch only (the training-mode one is random).
  const feeds = randomInputs(model, { seed: 1 });
  const [a, c] = [await runOnce(model, feeds, ['z', 'passthrough']), await runOnce(optimized, feeds, ['z', 'passthrough'])];
  assert.equal(relativeError(a.z!, c.z!), 0);
  assert.equal(relativeError(a.passthrough!, c.passthrough!), 0);
});

test('Identity feeding a graph output: the producer is renamed to the output', async () => {
  const b = new GraphBuilder();
  const x = b.input('x', DataType.FLOAT, [2, 3]);
  const r = b.op('Relu', [x]);
  b.op('Identity', [r], {}, { output: 'out' });
  b.op('Neg', [r], {}, { output: 'neg' });
  b.output('out', DataType.FLOAT);
  b.output('neg', DataType.FLOAT);
  const model = modelOf(b.graph);
  const { model: optimized, report } = optimizeModel(model);
  validateModel(optimized);
  assert.equal(report.removedIdentities, 1);
  assert.deepEqual(optimized.graph.nodes.map((n) => `${n.opType}:${n.inputs.join(',')}->${n.outputs.join(',')}`), ['Relu:x->out', 'Neg:out->neg']);
  await assertSameOutputs(model, optimized, undefined, 'renamed output');
});

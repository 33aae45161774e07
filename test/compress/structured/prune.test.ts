// pruneChannels: removing channels that are exactly zero leaves the outputs unchanged (onnxruntime before/after);
// pruned zoo ResNet-20 and a PyTorch-exported ResNet validate, run, and lose the MACs their new weights predict.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../../src/core/ir.js';
import { modelStats } from '../../../src/core/stats.js';
import { Tensor } from '../../../src/core/tensor.js';
import { validateModel } from '../../../src/core/validate.js';
import { analyzeChannels } from '../../../src/compress/structured/dependency.js';
import { pruneChannels, removeChannels } from '../../../src/compress/structured/prune.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { loadModel } from '../../../src/node/io.js';
import { readNpy } from '../../../src/node/npy.js';
import { randomInputs } from '../../../src/runtime/inputs.js';
import { fixture, maxAbsDifference } from '../../fixtures/fixtures.js';
import { runOnce } from '../../helpers/run.js';
import { NetBuilder, predictedMacs, zeroChannels } from './helpers.js';

/**
 * stem conv+BN+Relu (8) -> block convA+BN+Relu (6), convB+BN, Add(stem) -> Relu -> [itself, 1x1 convC+LeakyRelu (4)]
 * concatenated (12) -> depthwise 3x3 (12) -> convD (5) -> Relu -> MaxPool 2 -> Flatten (5*4*4) -> Gemm 10.
 */
function smallNet(): Model {
  const n = new NetBuilder();
  const x = n.b.input('x', 1, [2, 3, 8, 8]);
  const r1 = n.b.op('Relu', [n.bn('bn1', n.conv('conv1', x, 3, 8, 3, { bias: true }), 8)]);
  const rA = n.b.op('Relu', [n.bn('bnA', n.conv('convA', r1, 8, 6, 3), 6)]);
  const r2 = n.b.op('Relu', [n.b.op('Add', [n.bn('bnB', n.conv('convB', rA, 6, 8, 3), 8), r1])]);
  const rC = n.b.op('LeakyRelu', [n.conv('convC', r2, 8, 4, 1, { bias: true })]);
  const cat = n.b.op('Concat', [r2, rC], { axis: 1 });
  const dw = n.conv('dw', cat, 12, 12, 3, { bias: true, group: 12 });
  const rD = n.b.op('Relu', [n.conv('convD', dw, 12, 5, 3, { bias: true })]);
  const pooled = n.b.op('MaxPool', [rD], { kernel_shape: [2, 2], strides: [2, 2] });
  return n.finish(n.gemm('fc', n.b.op('Flatten', [pooled], { axis: 1 }), 80, 10));
}

/** Makes channels output exactly zero: stem/residual {2,5} (concat 2,5), convA {4}, convC {1} (concat 9), convD {0}. */
function withDeadChannels(): Model {
  const m = smallNet();
  for (const name of ['conv1.w', 'conv1.b', 'bn1.scale', 'bn1.bias', 'convB.w', 'bnB.scale', 'bnB.bias']) zeroChannels(m, name, [2, 5]);
  for (const name of ['convA.w', 'bnA.scale', 'bnA.bias']) zeroChannels(m, name, [4]);
  for (const name of ['convC.w', 'convC.b']) zeroChannels(m, name, [1]);
  // The depthwise conv's bias would turn a zero input channel into a constant: zero it (and its filter) too.
  for (const name of ['dw.w', 'dw.b']) zeroChannels(m, name, [2, 5, 9]);
  for (const name of ['convD.w', 'convD.b']) zeroChannels(m, name, [0]);
  return m;
}

async function outputsOf(model: Model, feeds: Record<string, Tensor>): Promise<Tensor> {
  return Object.values(await runOnce(model, feeds))[0]!;
}

test('removing all-zero channels leaves the outputs unchanged, for every criterion', async () => {
  const model = withDeadChannels();
  const feeds = randomInputs(model, { seed: 3 });
  const expected = await outputsOf(model, feeds);
  // Random weights make outputs in the hundreds: compare relative to their size (float32 rounding, ~1e-7 per op).
  const scale = Math.max(...expected.toFloat32().map(Math.abs));
  for (const criterion of ['l1', 'l2', 'bn-scale'] as const) {
    const { model: pruned, report } = pruneChannels(model, { ratio: 0.25, criterion });
    validateModel(pruned);
    const dims = (name: string) => [...pruned.graph.initializers.get(name)!.dims];
    assert.deepEqual(dims('conv1.w'), [6, 3, 3, 3]);
    assert.deepEqual(dims('convA.w'), [5, 6, 3, 3]);
    assert.deepEqual(dims('convB.w'), [6, 5, 3, 3]);
    assert.deepEqual(dims('convC.w'), [3, 6, 1, 1]);
    assert.deepEqual(dims('dw.w'), [9, 1, 3, 3]);
    assert.deepEqual(dims('convD.w'), [4, 9, 3, 3]);
    assert.deepEqual(dims('fc.w'), [10, 64], 'Flatten into Gemm drops 16 columns per channel');
    assert.deepEqual(dims('fc.b'), [10], 'the classifier keeps its outputs');
    assert.equal(pruned.graph.nodes.find((n) => n.name === 'dw')!.int('group'), 9);
    assert.deepEqual(report.groups.map((g) => [g.channelsBefore, g.channelsAfter]).sort(), [[10, 10], [4, 3], [5, 4], [6, 5], [8, 6]].sort());
    const diff = maxAbsDifference(await outputsOf(pruned, feeds), expected);
    assert.ok(diff < 1e-5 * scale, `${criterion}: outputs moved by ${diff} (largest output ${scale})`);
    assert.ok(report.macsAfter < report.macsBefore && report.paramsAfter < report.paramsBefore);
  }
});

test('removing live channels does change the outputs (the check above can fail)', async () => {
  const model = smallNet();
  const feeds = randomInputs(model, { seed: 3 });
  const { model: pruned } = pruneChannels(model, { ratio: 0.25 });
  const expected = await outputsOf(model, feeds);
  const scale = Math.max(...expected.toFloat32().map(Math.abs));
  assert.ok(maxAbsDifference(await outputsOf(pruned, feeds), expected) > 1e-2 * scale);
});

test('zoo resnet-20 pruned by half validates, runs and loses the predicted MACs', async () => {
  const model = buildArch('resnet-20', { inputShape: [1, 28, 28], classes: 10 });
  const analysis = analyzeChannels(model);
  const residual = analysis.groups.filter((g) => g.producers.length > 1);
  assert.deepEqual(residual.map((g) => [g.channels, g.producers.length]), [[16, 4], [32, 4], [64, 4]], 'stem + 3 conv2 per stage (+ projection)');
  assert.equal(analysis.groups.filter((g) => g.prunable).length, 12, '3 residual groups + 9 inner block convs');
  assert.equal(analysis.groups.filter((g) => !g.prunable).length, 1, 'only the classifier');

  const { model: pruned, report } = pruneChannels(model, { ratio: 0.5 });
  validateModel(pruned);
  for (const g of report.groups) assert.equal(g.channelsAfter, g.prunable ? g.channelsBefore / 2 : g.channelsBefore);
  const out = Object.values(await runOnce(pruned, randomInputs(pruned, { batch: 4 })))[0]!;
  assert.deepEqual([...out.dims], [4, 10]);
  const after = modelStats(pruned, { gzipLimit: 0 }).macs;
  const before = modelStats(model, { gzipLimit: 0 }).macs;
  assert.equal(after, report.macsAfter);
  assert.ok(Math.abs(after - predictedMacs(model, pruned)) <= 1e-6 * before);
  // Convs between two halved groups keep a quarter; the stem (1 input channel) and fc keep half.
  assert.ok(after / before > 0.25 && after / before < 0.27, `MACs kept ${after / before}`);
  assert.ok(report.paramsAfter / report.paramsBefore < 0.27);
});

test('a MAC reduction target picks one ratio for all groups that reaches it', () => {
  const model = buildArch('resnet-8', { inputShape: [1, 28, 28], classes: 10 });
  const { report } = pruneChannels(model, { macReduction: 0.5 });
  const kept = report.macsAfter / report.macsBefore;
  assert.ok(kept <= 0.5 && kept > 0.4, `MACs kept ${kept}`);
  assert.ok(report.ratio > 0.2 && report.ratio < 0.35, `ratio ${report.ratio}`);
});

test('resnet_small.onnx (PyTorch export, BN folded) pruned validates, runs and loses the predicted MACs', async () => {
  const model = loadModel(fixture('resnet_small.onnx'));
  const input = readNpy(fixture('resnet_small.input.npy'));
  const feeds = { [model.graph.inputs[0]!.name]: input };
  const reference = await outputsOf(model, feeds);

  const untouched = pruneChannels(model, { ratio: 0 }).model;
  assert.ok(maxAbsDifference(await outputsOf(untouched, feeds), reference) < 1e-5);

  const { model: pruned, report } = pruneChannels(model, { ratio: 0.5, criterion: 'l2' });
  validateModel(pruned);
  assert.deepEqual([...(await outputsOf(pruned, feeds)).dims], [...reference.dims]);
  assert.ok(Math.abs(report.macsAfter - predictedMacs(model, pruned)) <= 1e-6 * report.macsBefore);
  assert.ok(report.macsAfter / report.macsBefore < 0.3, `MACs kept ${report.macsAfter / report.macsBefore}`);
});

test('resnet_small.onnx: removing zeroed channels of a residual group and an inner conv keeps its outputs', async () => {
  const model = loadModel(fixture('resnet_small.onnx'));
  const analysis = analyzeChannels(model);
  const residual = analysis.groups.find((g) => g.producers.includes('/stem/stem.0/Conv'))!;
  const inner = analysis.groups.find((g) => g.producers.join() === '/layer1/conv1/Conv')!;
  const dead = [1, 7, 12];
  for (const m of [...residual.members, ...inner.members].filter((m) => m.role.startsWith('producer'))) zeroChannels(model, m.tensor, dead);
  const feeds = { [model.graph.inputs[0]!.name]: readNpy(fixture('resnet_small.input.npy')) };
  const keep = [...Array(16).keys()].filter((c) => !dead.includes(c));
  const pruned = removeChannels(model, analysis, new Map([[residual.id, keep], [inner.id, keep]]));
  validateModel(pruned);
  assert.deepEqual([...pruned.graph.initializers.get('onnx::Conv_84')!.dims], [13, 13, 3, 3]);
  assert.ok(maxAbsDifference(await outputsOf(pruned, feeds), await outputsOf(model, feeds)) < 1e-4);
});

test('channelMultiple rounds every group\'s kept channels to a multiple (onnxruntime computes channels in blocks)', () => {
  const prune = pruneChannels;
  const model = buildArch('resnet-8', { inputShape: [1, 28, 28], classes: 10 });
  const { model: pruned } = prune(model, { ratio: 0.35, channelMultiple: 8 });
  const convOut = [...pruned.graph.nodes].filter((n) => n.opType === 'Conv').map((n) => pruned.graph.initializers.get(n.inputs[1]!)!.dims[0]!);
  assert.ok(convOut.length > 0);
  for (const c of convOut) assert.equal(c % 8, 0, `kept ${c} channels`);
  assert.throws(() => prune(model, { ratio: 0.35, channelMultiple: 0 }), /channelMultiple 0/);
});

test('per-group ratios by pattern: matched groups take their ratio, the rest the default; unknown patterns fail', () => {
  const model = buildArch('lenet-5', { seed: 1 });
  const channels = (m: Model) => analyzeChannels(m).groups.map((g) => [g.producers.join('+'), g.channels]);
  const { model: pruned, report } = pruneChannels(model, { ratio: 0, overrides: [{ pattern: 'conv2', ratio: 0.5 }, { pattern: 'fc*', ratio: 0.75 }] });
  assert.deepEqual(channels(pruned), [['conv1', 20], ['conv2', 25], ['fc1', 125], ['fc2', 10]]);
  assert.equal(report.macsAfter, modelStats(pruned).macs);
  validateModel(pruned);
  assert.throws(() => pruneChannels(model, { ratio: 0.5, overrides: [{ pattern: 'conv9', ratio: 0.5 }] }), /pattern 'conv9' matches no channel group/);
  assert.throws(() => pruneChannels(model, { macReduction: 0.5, overrides: [{ pattern: 'conv2', ratio: 0.5 }] }), /exclude each other/);
});

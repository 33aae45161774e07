// analyzeChannels: what it refuses (naming the node and op) and how refusals reach pruneChannels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../../src/core/ir.js';
import { validateModel } from '../../../src/core/validate.js';
import { StructuredPruningError, analyzeChannels } from '../../../src/compress/structured/dependency.js';
import { pruneChannels } from '../../../src/compress/structured/prune.js';
import { randomInputs } from '../../../src/runtime/inputs.js';
import { buildArch } from '../../../src/nn/zoo.js';
import { runOnce } from '../../helpers/run.js';
import { NetBuilder } from './helpers.js';

/** conv1 (8) -> [middle] -> conv2 (6) -> Relu -> GlobalAveragePool -> Flatten -> Gemm 10. */
function netWith(middle: (n: NetBuilder, x: string) => string, conv2Group = 1): Model {
  const n = new NetBuilder();
  const x = n.b.input('x', 1, [1, 3, 8, 8]);
  const y = middle(n, n.b.op('Relu', [n.conv('conv1', x, 3, 8, 3)]));
  const z = n.b.op('Relu', [n.conv('conv2', y, 8, 8, 3, { group: conv2Group })]);
  const pooled = n.b.op('GlobalAveragePool', [z]);
  return n.finish(n.gemm('fc', n.b.op('Flatten', [pooled], { axis: 1 }), 8, 10));
}

const groupOf = (model: Model, producer: string) => analyzeChannels(model).groups.find((g) => g.producers.includes(producer))!;

test('an op the analysis cannot follow refuses the group, naming the node and op; other groups still prune', async () => {
  const model = netWith((n, x) => n.b.op('Transpose', [n.b.op('Transpose', [x], { perm: [0, 2, 3, 1] }, { name: 'to_nhwc' })], { perm: [0, 3, 1, 2] }, { name: 'to_nchw' }));
  const refused = groupOf(model, 'conv1');
  assert.equal(refused.prunable, false);
  assert.match(refused.reason!, /node 'to_nhwc' \(Transpose\)/);
  assert.equal(groupOf(model, 'conv2').prunable, true);

  assert.throws(() => pruneChannels(model, { ratio: 0.5, requireAll: true }), (e: Error) => e instanceof StructuredPruningError && /to_nhwc.*Transpose/.test(e.message));
  const { model: pruned, report } = pruneChannels(model, { ratio: 0.5 });
  validateModel(pruned);
  assert.deepEqual([...pruned.graph.initializers.get('conv1.w')!.dims], [8, 3, 3, 3], 'conv1 keeps its channels');
  assert.deepEqual([...pruned.graph.initializers.get('conv2.w')!.dims], [4, 8, 3, 3]);
  assert.match(report.groups.find((g) => g.producers.includes('conv1'))!.reason!, /to_nhwc/);
  const out = Object.values(await runOnce(pruned, randomInputs(pruned)))[0]!;
  assert.deepEqual([...out.dims], [1, 10]);
});

test('a Reshape that splits the channel dimension is refused by name', () => {
  const model = netWith((n, x) => {
    const split = n.b.op('Reshape', [x, n.b.int64s('to5d', [1, 2, 4, 8, 8])], {}, { name: 'split_channels' });
    return n.b.op('Reshape', [n.b.op('Relu', [split]), n.b.int64s('to4d', [1, 8, 8, 8])]);
  });
  const g = groupOf(model, 'conv1');
  assert.equal(g.prunable, false);
  assert.match(g.reason!, /node 'split_channels' \(Reshape\)/);
});

test('a grouped (non-depthwise) convolution refuses the channels it reads', () => {
  const g = groupOf(netWith((_, x) => x, 2), 'conv1');
  assert.equal(g.prunable, false);
  assert.match(g.reason!, /node 'conv2' \(Conv\) is a grouped convolution \(group=2\)/);
});

test('the classifier output is never pruned and a model with nothing to prune is refused', () => {
  const model = netWith((_, x) => x);
  const fc = groupOf(model, 'fc');
  assert.equal(fc.prunable, false);
  assert.equal(fc.reachesOutput, true);
  const { model: pruned } = pruneChannels(model, { ratio: 0.9 });
  assert.deepEqual([...pruned.graph.initializers.get('fc.w')!.dims], [10, 1]);

  const n = new NetBuilder();
  const x = n.b.input('x', 1, [1, 8]);
  const onlyClassifier = n.finish(n.gemm('fc', x, 8, 10));
  assert.throws(() => pruneChannels(onlyClassifier, { ratio: 0.5 }), /no channel group can be pruned/);
});

test('bad options are refused in one line', () => {
  const model = netWith((_, x) => x);
  assert.throws(() => pruneChannels(model, { ratio: 1 }), /channel ratio 1 must be in \[0, 1\)/);
  assert.throws(() => pruneChannels(model, {}), /either a channel ratio or a MAC reduction/);
  assert.throws(() => pruneChannels(model, { ratio: 0.5, macReduction: 0.5 }), /either a channel ratio or a MAC reduction/);
  assert.throws(() => pruneChannels(model, { ratio: 0.5, criterion: 'hrank' as never }), /unknown criterion 'hrank'/);
  assert.throws(() => pruneChannels(model, { ratio: 0.5, minChannels: 0 }), /minChannels 0/);
});

test('Squeeze after global pooling and zoo MLP/LeNet chains of Gemms prune and run', async () => {
  const n = new NetBuilder();
  const x = n.b.input('x', 1, [1, 3, 8, 8]);
  const pooled = n.b.op('GlobalAveragePool', [n.b.op('Relu', [n.conv('conv1', x, 3, 8, 3)])]);
  const squeezed = n.b.op('Squeeze', [pooled, n.b.int64s('axes', [2, 3])], {}, { name: 'squeeze' });
  const model = n.finish(n.gemm('fc', n.b.op('Relu', [n.gemm('hidden', squeezed, 8, 6)]), 6, 10));
  const { model: pruned } = pruneChannels(model, { ratio: 0.5 });
  const dims = (m: Model, name: string) => [...m.graph.initializers.get(name)!.dims];
  assert.deepEqual([dims(pruned, 'conv1.w'), dims(pruned, 'hidden.w'), dims(pruned, 'fc.w')], [[4, 3, 3, 3], [3, 4], [10, 3]]);
  assert.deepEqual([...Object.values(await runOnce(pruned, randomInputs(pruned)))[0]!.dims], [1, 10]);

  for (const [arch, expected] of [['lenet-300-100', [[150, 784], [50, 150], [10, 50]]], ['lenet-5', [[10, 1, 5, 5], [25, 10, 5, 5], [250, 400], [10, 250]]]] as const) {
    const { model: zoo } = pruneChannels(buildArch(arch), { ratio: 0.5 });
    validateModel(zoo);
    const weights = zoo.graph.nodes.filter((node) => node.opType === 'Conv' || node.opType === 'Gemm').map((node) => dims(zoo, node.inputs[1]!));
    assert.deepEqual(weights, expected, arch);
    assert.deepEqual([...Object.values(await runOnce(zoo, randomInputs(zoo, { batch: 2 })))[0]!.dims], [2, 10]);
  }
});

test('resnet-20 with option-A shortcuts: spatial Slice is followed, channel zero-padding is refused by name, the rest prunes', async () => {
  const model = buildArch('resnet-20', { inputShape: [1, 28, 28], classes: 10, shortcut: 'A' });
  const stem = groupOf(model, 'conv1');
  assert.equal(stem.prunable, false);
  assert.match(stem.reason!, /node 'layer2\.0\.shortcut' \(Pad\) slices or pads the channel axis/);
  const { model: pruned, report } = pruneChannels(model, { ratio: 0.5 });
  validateModel(pruned);
  assert.equal(report.groups.filter((g) => g.prunable).length, 9, 'the inner conv of each block');
  assert.deepEqual([...Object.values(await runOnce(pruned, randomInputs(pruned, { batch: 2 })))[0]!.dims], [2, 10]);
});
